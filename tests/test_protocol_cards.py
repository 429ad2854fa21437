"""Protocol cards (configs/_base_/protocols/*.yaml): each card's "this
project" column equals the resolved configs, every method config has a
card, declared reference keys exist, and docs/protocols/ is the rendering
of the cards (so neither can drift)."""
import glob
import os.path as osp

import pytest

from clst_mmseg.benchmark.identity import resolve_config
from clst_mmseg.benchmark.protocol_cards import (ABSENT, CardError,
                                                 card_paths, check_card,
                                                 config_task,
                                                 covered_configs, load_card,
                                                 rendered_docs, resolve_key)
from clst_mmseg.benchmark.references import load_references, reference_keys
from conftest import ROOT

CARDS = {osp.basename(p): p for p in card_paths(ROOT)}


@pytest.mark.parametrize('name', sorted(CARDS))
def test_card_matches_its_configs(name):
    """The cbst.yaml card follows configs/self_training_cb/, which the CBST
    as released work (issue #9, helper i9b) replaces: when that lands, this
    card's "this project" values are updated with it (the lead merges)."""
    assert check_card(load_card(CARDS[name]), ROOT) == []


def test_every_method_config_has_a_card():
    cards = [load_card(p) for p in CARDS.values()]
    covered = covered_configs(cards)
    configs = sorted(
        osp.relpath(p, ROOT)
        for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
        if osp.basename(osp.dirname(p)) not in ('_base_', 'benchmarks'))
    assert configs, 'no method configs found'
    missing = [c for c in configs if c not in covered]
    assert missing == [], f'configs without a protocol card: {missing}'
    for path in covered:
        assert osp.isfile(osp.join(ROOT, path)), path


def test_declared_reference_keys_exist():
    keys = reference_keys(load_references())
    for path in glob.glob(osp.join(ROOT, 'configs', '*', '*.py')):
        if '_base_' in path or 'benchmarks' in path:
            continue
        key = resolve_config(path).get('reference_key', ABSENT)
        assert key in (ABSENT, None) or key in keys, (path, key)


def test_rendered_numbers_are_those_of_each_configs_task():
    """Every "published numbers" line of every rendered card names the
    numbers of its config's own task in reference_numbers.csv (the CBST card
    once paired its GTA5 configs with SYNTHIA numbers: the task was read
    from the card's config names, cbst_gta2cs did not start with gta2cs)."""
    refs = load_references()
    docs = rendered_docs(ROOT, refs)
    for card in (load_card(p) for p in CARDS.values()):
        text = docs[osp.join(
            'docs', 'protocols', card['file'].replace('.yaml', '.md'))]
        for path in card['configs'].values():
            task = config_task(path, set(refs['task'])) or osp.basename(
                path).split('_')[0].replace('.py', '')
            line = next(ln for ln in text.splitlines()
                        if ln.startswith(f'- `{path}`'))
            key = resolve_config(osp.join(ROOT, path)).get(
                'reference_key', ABSENT)
            if key in (ABSENT, None):
                continue
            rows = refs[(refs['task'] == task) & (refs['key'] == key)]
            if rows.empty:
                assert f'has no {task} number' in line, line
                continue
            for _, row in rows.iterrows():
                assert f'{row["value"]:g} {row["metric"]}' in line, line
            other = refs[(refs['task'] != task) & (refs['key'] == key)]
            for _, row in other.iterrows():
                assert f'{row["value"]:g} {row["metric"]}' not in line, line


def test_cbst_card_numbers():
    text = rendered_docs(ROOT, load_references())[osp.join(
        'docs', 'protocols', 'cbst.md')]
    assert ('- `configs/self_training_cb/gta2cs.py`: `cbst_crst` = 46.47 '
            'mIoU19') in text
    assert ('- `configs/self_training_global/gta2cs.py`: `st_global` = 41.5 '
            'mIoU19') in text
    assert ('- `configs/self_training_global/synthia2cs.py`: `st_global` = '
            '32.2 mIoU16') in text


def test_rendered_docs_are_up_to_date():
    for rel, text in rendered_docs(ROOT, load_references()).items():
        path = osp.join(ROOT, rel)
        assert osp.isfile(path), f'{rel} missing: run python ' \
            'tools/render_protocol_cards.py'
        with open(path) as f:
            assert f.read() == text, f'{rel} is out of date: run python ' \
                'tools/render_protocol_cards.py'


def test_key_paths():
    cfg = dict(a=dict(pipeline=[dict(type='Load'),
                                dict(type='Resize', scale=(1, 2))]),
               b=[dict(x=1)], c=None)
    assert resolve_key(cfg, 'a.pipeline.type=Resize.scale') == [1, 2]
    assert resolve_key(cfg, 'a.pipeline.type=RandomFlip') == ABSENT
    assert resolve_key(cfg, 'b.0.x') == 1
    assert resolve_key(cfg, 'b.3') == ABSENT
    assert resolve_key(cfg, 'c') is None
    assert resolve_key(cfg, 'd.e') == ABSENT


def _card(tmp_path, facts, configs=None):
    import yaml
    path = tmp_path / 'x.yaml'
    path.write_text(yaml.safe_dump(dict(
        method='X', summary='s',
        configs=configs or {'gta2cs': 'configs/dacs/gta2cs.py'},
        facts=facts)))
    return str(path)


def test_a_drifted_card_is_reported(tmp_path):
    fact = dict(fact='batch', paper='2', source='configUDA.json',
                status='same', key='train_dataloader.batch_size', project=4)
    card = load_card(_card(tmp_path, [fact]))
    assert check_card(card, ROOT) == [
        'x.yaml: batch (gta2cs): the card says 4, configs/dacs/gta2cs.py '
        'has train_dataloader.batch_size = 2']
    fact.update(project={'scale': [1024, 512]},
                key='val_dataloader.dataset.pipeline.type=ResizeLabelsForEval')
    assert check_card(load_card(_card(tmp_path, [fact])), ROOT) == []


@pytest.mark.parametrize('fact, match', [
    (dict(fact='f', paper='p', source='s', status='differs', key=None,
          project='x'), r'facts\[0\] \(f\): a difference needs a note'),
    (dict(fact='f', paper='p', source='s', status='maybe', key=None,
          project='x'), 'status must be one of'),
    (dict(fact='f', paper='p', source='s', status='same', key=None),
     'exactly one of project, project_by_config'),
    (dict(fact='f', paper='p', source='s', status='same', key=None,
          project_by_config={'other': 1}), "names \\['other'\\]"),
    (dict(fact='f', paper='p', source='s', status='same', key=None,
          project=1, extra=2), "unknown keys \\['extra'\\]"),
    (dict(fact='f', paper='', source='s', status='same', key=None,
          project=1), 'paper is required'),
])
def test_bad_cards_fail_with_one_line(tmp_path, fact, match):
    with pytest.raises(CardError, match=match):
        load_card(_card(tmp_path, [fact]))


def test_protocol_summary_of_paper_configs():
    """What tools/benchmark.py --dry-run prints per run (sizes w x h)."""
    from clst_mmseg.benchmark.identity import hashed_config
    from clst_mmseg.benchmark.protocol_cards import protocol_summary

    def line(path, ref=None):
        return protocol_summary(
            hashed_config(resolve_config(osp.join(ROOT, path))), ref)

    assert line('configs/dacs/gta2cs.py') == (
        'ResNet101/caffe BN-train ASPP:first_two '
        'init:resnet101COCO-41f33a49_mmseg.pth '
        'src:1280x720,crop512x512,noflip tgt:1024x512,crop512x512,noflip '
        'batch:2 iters:40000 SGD(lr=0.00025) val:5000,labels1024x512 '
        'test:1024x512 ref:dacs')
    assert line('configs/advent/gta2cs_advent.py') == (
        'ResNet101/caffe BN-train ASPP:sum_all '
        'init:DeepLab_resnet_pretrained_imagenet_mmseg.pth '
        'src:1280x720,noflip tgt:1024x512,noflip batch:1 iters:40000 '
        'SGD(lr=0.00025) val:2000 test:1024x512 ref:advent_adv')
    assert ' test:full ref:cbst_crst' in line('configs/self_training_cb/'
                                               'gta2cs.py')
    assert line('configs/daformer/gta2cs.py') == (
        'MixVisionTransformer/pytorch BN-train init:mit_b5_mmseg.pth '
        'src:1280x720,crop512x512,flip0.5 tgt:1024x512,crop512x512,flip0.5 '
        'rcs:T0.01 batch:2 iters:40000 AdamW(lr=6e-05) val:4000 '
        'test:1024x512 ref:daformer')
    assert line('configs/mic/synthia2cs.py').endswith('ref:-')
    # no declaration: the suite entry's key; joint ADVENT declares None
    assert line('configs/clst/gta2cs.py', 'clst').endswith('ref:clst')
    assert line('configs/advent/gta2cs.py', 'advent').endswith('ref:-')
    assert 'init:random' in line('configs/source_only/mini.py')
