"""SYNTHIA -> Cityscapes scored as each paper scored it: every synthia2cs
config names its convention (``synthia_scoring``), a 16-class-scored config
trains 16 classes and ignores terrain, truck and train in the source labels
and in the Cityscapes ground truth, and the metric then no longer counts
those pixels against other classes."""
import glob
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, METRICS

from clst_mmseg.datasets.cityscapes_labels import (CITYSCAPES_CLASSES,
                                                   CLASS_SUBSETS)
from clst_mmseg.datasets.convert import convert_dataset
from clst_mmseg.datasets.verify import synthia_scoring_problems
from clst_mmseg.synthia_scoring import SYNTHIA_SCORING
from conftest import ROOT

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from fixtures_real_layouts import make_cityscapes, make_synthia  # noqa: E402

init_default_scope('mmseg')
SYNTHIA_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*', 'synthia2cs*.py')))
#: Each paper's convention, read from its official code (protocol cards,
#: fact "SYNTHIA scoring").
EXPECTED = {
    'advent': 'train16',  # valeoai/DADA configs_s2c/advent.yml, 16 classes
    'self_training_cb': 'train16',  # CBST README cls16, CRST labels
    'self_training_global': 'train16',  # the CBST paper's ST, same code
    'dacs': 'subset19',  # vikolss/DACS data/synthia_dataset.py: 19 ids
    'adaptsegnet': 'subset19',  # not stated (GTA5-only release): assumed
    'clst': 'subset19',  # not stated: assumed
    'self_training': 'subset19',  # the shared convention
    'source_only': 'subset19',
    'oracle': 'subset19',
    'daformer': 'subset19',  # lhoyer/DAFormer README: mIoU19 x 19/16
    'mic': 'subset19',  # MIC(DAFormer) runs on DAFormer's code
    'clst_daformer': 'subset19',  # DAFormer's convention (beyond the paper)
}
CBST = osp.join(ROOT, 'configs', 'self_training_cb', 'synthia2cs.py')
EVAL_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


def test_16_class_fragment_is_the_mIoU16_subset():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'datasets',
                 'synthia16_classes.py'))
    assert list(cfg.synthia16_classes) == CLASS_SUBSETS['mIoU16']
    assert SYNTHIA_SCORING['train16']['num_classes'] == 16
    assert SYNTHIA_SCORING['subset19']['num_classes'] == 19


def test_every_synthia_config_scores_as_its_paper():
    assert len(SYNTHIA_CONFIGS) >= 11
    for path in SYNTHIA_CONFIGS:
        cfg = Config.fromfile(osp.join(ROOT, path))
        method = path.split('/')[1]
        assert cfg.synthia_scoring == EXPECTED[method], path
        assert synthia_scoring_problems(cfg) == [], path
        n = cfg.model.segmentor.decode_head.num_classes
        assert n == SYNTHIA_SCORING[cfg.synthia_scoring]['num_classes'], path
    # the GTA5 configs have no such key
    assert 'synthia_scoring' not in Config.fromfile(
        osp.join(ROOT, 'configs', 'advent', 'gta2cs.py'))


def test_scoring_check_names_an_inconsistent_key():
    cfg = Config.fromfile(CBST)
    cfg.model.segmentor.decode_head.num_classes = 19
    cfg.val_dataloader.dataset.metainfo = None
    problems = synthia_scoring_problems(cfg)
    assert ("model.segmentor.decode_head.num_classes=19 but "
            "synthia_scoring='train16' trains 16 classes") in problems
    assert any(p.startswith('val_dataloader.dataset.metainfo.classes=None '
                            "but synthia_scoring='train16' expects")
               for p in problems)
    cfg.synthia_scoring = 'train17'
    assert synthia_scoring_problems(cfg) == [
        "synthia_scoring='train17': expected one of ['subset19', 'train16']"]


def _labels(dataset_cfg, root):
    ds = DATASETS.build(dict(dataset_cfg, data_root=root,
                             pipeline=EVAL_PIPELINE))
    return ds, [ds[i]['data_samples'].gt_sem_seg.data[0].numpy()
                for i in range(len(ds))]


def test_16_class_config_ignores_terrain_truck_train(tmp_path):
    """The CBST SYNTHIA config's datasets: terrain (9), truck (14) and train
    (16) become 255 in the Cityscapes val ground truth, every other class
    its index among the 16; SYNTHIA labels are remapped the same way."""
    cfg = Config.fromfile(CBST)
    cs = make_cityscapes(str(tmp_path / 'cs'))
    convert_dataset('cityscapes', cs.root)
    ds, labels = _labels(cfg.val_dataloader.dataset, cs.root)
    assert ds.metainfo['classes'] == tuple(CLASS_SUBSETS['mIoU16'])
    expected19 = next(v for k, v in cs.expected.items() if '/val/' in k)[1]
    to16 = np.full(256, 255, np.uint8)
    for i, name in enumerate(CITYSCAPES_CLASSES):
        if name in CLASS_SUBSETS['mIoU16']:
            to16[i] = CLASS_SUBSETS['mIoU16'].index(name)
    assert {9, 14, 16} <= set(np.unique(expected19).tolist())
    np.testing.assert_array_equal(labels[0], to16[expected19])
    assert labels[0][expected19 == 9].tolist() == [255] * int(
        (expected19 == 9).sum())
    assert labels[0].max() < 16 or set(np.unique(labels[0])) - set(
        range(16)) == {255}
    # the 19-class convention keeps them
    subset19 = Config.fromfile(
        osp.join(ROOT, 'configs', 'clst', 'synthia2cs.py'))
    _, labels19 = _labels(subset19.val_dataloader.dataset, cs.root)
    np.testing.assert_array_equal(labels19[0], expected19)

    syn = make_synthia(str(tmp_path / 'syn'))
    convert_dataset('synthia', syn.root)
    _, src = _labels(cfg.train_dataloader.dataset.source, syn.root)
    for (_, (_, expected)), got in zip(sorted(syn.expected.items()), src):
        np.testing.assert_array_equal(got, to16[expected])


def _sample(pred, gt):
    return dict(pred_sem_seg=dict(data=torch.as_tensor(pred)[None]),
                gt_sem_seg=dict(data=torch.as_tensor(gt)[None]))


def test_16_class_scoring_does_not_count_terrain_against_vegetation():
    """A terrain pixel of Cityscapes val predicted as vegetation is a false
    positive of vegetation in a 19-class confusion matrix (subset19), and
    is not scored at all once the ground truth maps terrain to 255
    (train16)."""
    veg19, terrain19 = 8, 9
    gt19 = np.array([[veg19, veg19, terrain19, terrain19]])
    pred19 = np.array([[veg19, veg19, veg19, veg19]])
    metric = METRICS.build(dict(type='SubsetIoUMetric',
                                class_subsets=['mIoU16', 'mIoU13']))
    metric.dataset_meta = dict(classes=CITYSCAPES_CLASSES)
    metric.process({}, [_sample(pred19, gt19)])
    res19 = metric.evaluate(1)
    assert res19['IoU.vegetation'] == 50.0  # 2 / (2 + 2 false positives)
    assert res19['mIoU16'] == 50.0  # vegetation is the only class seen

    veg16 = CLASS_SUBSETS['mIoU16'].index('vegetation')
    gt16 = np.array([[veg16, veg16, 255, 255]])  # the label map's output
    pred16 = np.array([[veg16] * 4])
    metric = METRICS.build(dict(type='SubsetIoUMetric',
                                class_subsets=['mIoU16', 'mIoU13']))
    metric.dataset_meta = dict(classes=tuple(CLASS_SUBSETS['mIoU16']))
    metric.process({}, [_sample(pred16, gt16)])
    res16 = metric.evaluate(1)
    assert res16['IoU.vegetation'] == 100.0
    assert res16['mIoU16'] == res16['mIoU'] == 100.0
    assert 'IoU.terrain' not in res16


@pytest.mark.parametrize('card', ['advent', 'cbst', 'dacs', 'adaptsegnet',
                                  'clst', 'self_training', 'shared'])
def test_cards_state_the_convention(card):
    from clst_mmseg.benchmark.protocol_cards import card_paths, load_card
    path = next(p for p in card_paths(ROOT) if p.endswith(f'/{card}.yaml'))
    fact = next(f for f in load_card(path)['facts']
                if f['fact'] == 'SYNTHIA scoring')
    assert fact['key'] == 'synthia_scoring'
    for name, cfg_path in load_card(path)['configs'].items():
        want = fact['project_by_config'][name]
        method = cfg_path.split('/')[1]
        if 'synthia2cs' in cfg_path:
            assert want == EXPECTED[method], (card, name)
        else:
            assert want == '<absent>', (card, name)
