"""Dataset preparation: the official facts, completeness against them (a
partial download names what to download), one report of every missing
input of a training, the class-statistics slot, and the benchmark's
pre-flight on an empty machine and on a complete fake tree."""
import os
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from PIL import Image

from clst_mmseg.apis.config import load_config, prepare_run
from clst_mmseg.apis.run_inputs import RunInputsError
from clst_mmseg.benchmark.identity import resolve_config
from clst_mmseg.benchmark.preflight import (FAIL, OK, config_family,
                                            format_table, load_needs,
                                            needs_preflight, preflight)
from clst_mmseg.benchmark.spec import RunSpec
from clst_mmseg.datasets.completeness import load_official_facts
from clst_mmseg.datasets.verify import (CLASS_STATS_FILE,
                                        RARE_CLASS_SAMPLING_KEY,
                                        DatasetVerificationError,
                                        class_stats_problems, verify_config)
from conftest import ROOT

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from fixtures_real_layouts import (make_fake_tree,  # noqa: E402
                                   scaled_facts)

GTA_CFG = osp.join(ROOT, 'configs', 'source_only', 'gta2cs.py')
DACS_CFG = osp.join(ROOT, 'configs', 'dacs', 'gta2cs.py')
INIT = 'DeepLab_resnet_pretrained_init-f81d91e8_mmseg.pth'


def test_official_facts_add_up():
    facts = load_official_facts()
    gta = facts['gta']
    assert gta['count'] == 24966 and gta['first_index'] == 1
    parts = gta['parts']
    assert [p['part'] for p in parts] == [f'{k:02d}' for k in range(1, 11)]
    assert parts[0]['first'] == 1 and parts[-1]['last'] == 24966
    assert all(a['last'] + 1 == b['first'] for a, b in zip(parts, parts[1:]))
    assert facts['synthia']['count'] == 9400
    splits = facts['cityscapes']['splits']
    assert splits['train']['count'] == 2975 == sum(
        splits['train']['cities'].values())
    assert splits['val']['count'] == 500 == sum(
        splits['val']['cities'].values())
    for f in facts.values():
        assert '{root}' in f['converter'] and f['url'].startswith('http')


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A complete fake machine in miniature; the working directory."""
    fixtures = make_fake_tree(str(tmp_path), weights=(INIT, ))
    monkeypatch.chdir(tmp_path)
    return fixtures


def test_complete_tree_passes_and_a_partial_one_names_what_to_download(
        tree):
    """Complete against the facts scaled to the tree (test-only); then a
    GTA5 image, a Cityscapes city and a converted label go missing."""
    facts = scaled_facts(tree)
    cfg = load_config(GTA_CFG)
    notes = verify_config(cfg, max_label_checks=2, facts=facts)
    assert '[train_dataloader.dataset.source] GTA5 (Playing for Data): 3 ' \
        'of 3 images' in notes
    assert '[val_dataloader.dataset] Cityscapes (gtFine + leftImg8bit) ' \
        'val: 1 of 1 images' in notes

    os.remove(tree['gta'].images[1])  # 00001.png
    facts['cityscapes']['splits']['train']['cities']['bremen'] = 2
    facts['cityscapes']['splits']['train']['count'] += 2
    os.remove(tree['cityscapes'].expected[sorted(
        k for k in tree['cityscapes'].expected if '/val/' in k)[0]][0])
    with pytest.raises(DatasetVerificationError) as e:
        verify_config(cfg, facts=facts)
    problems = e.value.problems
    assert ('[train_dataloader.dataset.source] GTA5 (Playing for Data) part '
            '01 (00000-00002): 1 of 3 images missing (00001)') in problems
    gta = next(p for p in problems if 'part 01' in p)
    assert gta.fix.startswith('download 01_images.zip, 01_labels.zip from '
                              'https://download.'
                              'visinf.tu-darmstadt.de/data/from_games/')
    assert gta.fix.endswith('then python tools/convert_datasets/gta.py '
                            'data/gta')
    assert any('Cityscapes train: 2 of 4 images; short cities: bremen 0 of '
               '2' in p for p in problems)
    assert ('[val_dataloader.dataset] 1 Cityscapes val label(s) not '
            'converted (the official *_gtFine_labelIds.png are there, no '
            '*_gtFine_labelTrainIds.png; e.g. frankfurt/'
            'frankfurt_000000_000294)') in problems
    text = str(e.value)
    assert '      fix: python tools/convert_datasets/cityscapes.py ' \
        'data/cityscapes' in text
    # a deliberate subset: counts are notes, consistency still checked
    with pytest.raises(DatasetVerificationError) as e:
        verify_config(cfg, facts=facts, allow_partial=True)
    assert [p for p in e.value.problems if 'missing' in p or 'short' in p
            ] == []


def test_a_resized_copy_is_not_the_official_download(tree):
    """Most sampled images at another size than the official one: the copy
    was resized (every protocol here resizes the official images itself)."""
    facts = scaled_facts(tree)
    facts['synthia']['image_size'] = [1280, 760]
    cfg = load_config(osp.join(ROOT, 'configs', 'source_only',
                               'synthia2cs.py'))
    with pytest.raises(DatasetVerificationError) as e:
        verify_config(cfg, max_label_checks=1, facts=facts)
    assert any(p.startswith('[train_dataloader.dataset.source] 3 of 3 '
                            'sampled SYNTHIA-RAND-CITYSCAPES images are not '
                            'the official 1280x760') for p in e.value.problems)
    verify_config(cfg, max_label_checks=1, facts=facts, allow_partial=True)


def test_training_reports_every_missing_input_at_once(tmp_path,
                                                      monkeypatch):
    """No weights and no data: one report, weights first, each line with
    what fixes it (before: the weights error, then, past it, a bare
    "data_root does not exist")."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunInputsError) as e:
        prepare_run(load_config(GTA_CFG))
    lines = str(e.value).splitlines()
    assert lines[0] == (f'4 problem(s) with the inputs of {GTA_CFG} '
                        '(weights, then data), each with what fixes it:')
    assert lines[1] == ('  model.segmentor.backbone.init_cfg.2: pretrained '
                        f'weights checkpoints/{INIT} not found')
    assert lines[2].startswith('      fix: the ImageNet+MSCOCO DeepLab-v2 '
                               'init of AdaptSegNet')
    assert lines[3] == ('  [train_dataloader.dataset.source] data/gta/: '
                        'data_root does not exist (expected the root folder '
                        'of GTA5 (Playing for Data))')
    assert lines[4].startswith('      fix: download 01_images.zip ... '
                               '10_labels.zip (all 20 archives) from ')
    assert lines[4].endswith('then python tools/convert_datasets/gta.py '
                             'data/gta')
    assert any('python tools/convert_datasets/cityscapes.py data/cityscapes'
               in ln for ln in lines)
    assert isinstance(e.value, FileNotFoundError) and isinstance(
        e.value, ValueError)
    # weights allowed to be random: the data lines remain, still together
    with pytest.raises(RunInputsError) as e:
        prepare_run(load_config(GTA_CFG, {'allow_random_init': True}))
    assert len(e.value.problems) == 3
    assert not any('pretrained' in p for p in e.value.problems)


def test_training_passes_on_a_complete_tree_when_partial_is_allowed(tree):
    cfg = load_config(GTA_CFG, {'+allow_partial_data': True})
    prepare_run(cfg)  # weights file present, data consistent
    with pytest.raises(RunInputsError, match=r'part 01 \(00001-02500\): '
                       r'2,498 of 2,500 images missing'):
        prepare_run(load_config(GTA_CFG))


def test_class_statistics_slot(tree):
    """A config whose dataset samples rare classes needs the converters'
    statistics file beside the source labels; the fix is the converter."""
    cfg = Config.fromfile(GTA_CFG)
    assert class_stats_problems(cfg) == []
    cfg.train_dataloader.dataset[RARE_CLASS_SAMPLING_KEY] = dict(
        min_pixels=3000, class_temp=0.01)
    problems = class_stats_problems(cfg)
    assert problems == [
        f'[train_dataloader.dataset.source] data/gta/{CLASS_STATS_FILE}: '
        'class statistics missing (rare class sampling reads them)']
    assert problems[0].fix == 'python tools/convert_datasets/gta.py data/gta'
    open(osp.join('data', 'gta', CLASS_STATS_FILE), 'w').write('[]')
    assert class_stats_problems(cfg) == []


# ---------------------------------------------------------------- preflight
def _run(path, label='gta2cs/source_only/s0', **over):
    resolved = resolve_config(path)
    resolved.update(over)
    task, method, seed = label.split('/')
    return RunSpec(run_id=label.replace('/', '-'), task=task, method=method,
                   seed=int(seed[1:]), config=path, config_hash='h',
                   cfg_options=[], overrides={}, resolved_config=resolved,
                   work_dir='work', results_dir='results',
                   train_script='', test_script='')


def _suite(**options):
    return SimpleNamespace(path='suite.py', work_dir='work',
                           options=dict(dict(device='auto'), **options))


def test_needs_and_families():
    needs = load_needs()
    assert needs['DACS/ResNet101']['gpu_basis'] == 'estimated'
    assert needs['DACS/ResNet101']['checkpoint_basis'] == 'computed'
    assert config_family(resolve_config(DACS_CFG)) == 'DACS/ResNet101'
    assert needs_preflight([_run(GTA_CFG)])
    assert not needs_preflight([_run(osp.join(ROOT, 'configs', 'dacs',
                                              'mini.py'), 'mini/dacs/s0')])


def test_preflight_on_an_empty_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = preflight(_suite(), [_run(GTA_CFG), _run(DACS_CFG,
                                                    'gta2cs/dacs/s0')],
                     query_gpus=lambda ids: [])
    by = {(r.check, r.subject): r for r in rows}
    assert by[('data', 'data/gta/')].status == FAIL
    assert by[('weights', f'checkpoints/{INIT}')].status == FAIL
    assert by[('weights', 'checkpoints/resnet101COCO-41f33a49_mmseg.pth')
              ].fix.startswith("DACS's init")
    assert by[('GPU memory', 'DACS/ResNet101 (1 run(s))')].detail.startswith(
        'needs ~13 GiB (estimated); no GPU visible')
    table = format_table(rows)
    assert table.splitlines()[-1].startswith('pre-flight: ') and \
        table.endswith('; nothing is executed')


def test_preflight_names_a_missing_class_statistics_file_once(
        tmp_path, monkeypatch):
    """Every run that samples rare classes from one source reads one
    statistics file: a missing file is one row naming those runs."""
    monkeypatch.chdir(tmp_path)
    runs = [_run(osp.join(ROOT, 'configs', m, 'gta2cs.py'),
                 f'gta2cs/{m}/s{s}') for m in ('daformer', 'mic')
            for s in (0, 1)]
    rows = [r for r in preflight(_suite(), runs, query_gpus=lambda ids: [])
            if r.check == 'class stats']
    assert [(r.subject, r.status) for r in rows] == [
        ('gta2cs/daformer, mic (4 run(s))', FAIL)]
    assert 'data/gta/sample_class_stats.json' in rows[0].detail
    assert rows[0].fix == 'python tools/convert_datasets/gta.py data/gta'


def test_preflight_on_a_complete_fake_tree(tree):
    """Everything present (counts: a deliberate subset, allowed by the
    runs' +allow_partial_data), a GPU that is large enough: all ok; a GPU
    too small and a file that does not load: failures."""
    run = _run(GTA_CFG, allow_partial_data=True)
    gpus = lambda ids: [('0', 'NVIDIA H100', 80.0)]  # noqa: E731
    rows = preflight(_suite(), [run], query_gpus=gpus)
    assert [r for r in rows if r.status == FAIL] == [], format_table(rows)
    by = {r.check: r for r in rows}
    assert by['weights'].detail.endswith('loads with weights_only=True')
    assert by['GPU memory'].detail == (
        'needs ~12 GiB (estimated) <= 80 GiB of GPU 0 NVIDIA H100 80 GiB')
    assert by['disk'].status == OK
    small = preflight(_suite(), [run],
                      query_gpus=lambda ids: [('0', 'small', 8.0)])
    assert any(r.check == 'GPU memory' and r.status == FAIL for r in small)
    slurm = preflight(_suite(gpu_memory_gib=40), [run], executor='slurm')
    assert {r.check: r.status for r in slurm}['GPU memory'] == OK
    with open(osp.join('checkpoints', INIT), 'wb') as f:
        f.write(b'not a checkpoint')
    rows = preflight(_suite(), [run], query_gpus=gpus)
    bad = next(r for r in rows if r.check == 'weights')
    assert bad.status == FAIL and 'do not load with torch.load(' \
        'weights_only=True)' in bad.detail


def test_benchmark_cli_preflight_and_automatic_stop(tmp_path, monkeypatch,
                                                    capsys):
    """--preflight exits 2 on an empty machine; a real run stops before
    executing anything; on the complete tree --preflight exits 0."""
    from clst_mmseg.benchmark.cli import main
    suite = tmp_path / 'suite.py'
    suite.write_text(
        "tasks = ['gta2cs']\nmethods = ['source_only']\nseeds = [0]\n"
        f"configs_root = {osp.join(ROOT, 'configs')!r}\n"
        "device = 'cpu'\n")
    monkeypatch.chdir(tmp_path)
    args = [str(suite), '--results-dir', 'results', '--work-dir', 'work']
    assert main(args + ['--dry-run']) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        '0 done, 1 to execute, 0 running elsewhere',
        'these runs read downloaded data or weights: check them with '
        f'tools/benchmark.py {suite} --preflight']
    assert main(args + ['--preflight']) == 2
    out = capsys.readouterr().out
    assert '1 of 1 selected run(s) to execute (local)' in out
    assert 'data/gta/: data_root does not exist' in out
    assert main(args) == 2  # a real run: nothing executed
    captured = capsys.readouterr()
    assert 'pre-flight failed; nothing was executed' in captured.err
    assert [f for _, _, fs in os.walk(tmp_path / 'results') for f in fs
            ] == [] and not osp.exists(tmp_path / 'work')
    make_fake_tree(str(tmp_path), weights=(INIT, ))
    assert main(args + ['--preflight', '--cfg-options',
                        '+allow_partial_data=True']) == 0
    out = capsys.readouterr().out
    assert 'pre-flight: 0 failed' in out
    assert "GPU memory   all runs" in out and "device='cpu'" in out
