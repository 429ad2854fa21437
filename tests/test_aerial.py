"""Tests of the built-in aerial task: its generator
(clst_mmseg.datasets.aerial), its use of the atomic cache, its dataset
classes, its per-method configs and its place in the default suite."""
import csv
import glob
import os
import os.path as osp
from functools import lru_cache

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.datasets import aerial
from clst_mmseg.datasets.generated_cache import MARKER
from conftest import ROOT

SMALL = dict(n_source=6, n_target_train=5, n_target_val=4, n_source_val=3)
METHODS = ('source_only', 'oracle', 'adaptsegnet', 'advent', 'self_training',
           'self_training_cb', 'dacs', 'clst', 'daformer', 'mic',
           'daformer_deeplab', 'clst_daformer')
SPLITS = ('source', 'source_val', 'target_train', 'target_val')


def _read_all(root):
    out = {}
    for p in sorted(glob.glob(osp.join(root, '**', '*.*'), recursive=True)):
        with open(p, 'rb') as f:
            out[osp.relpath(p, root)] = f.read()
    return out


@lru_cache(maxsize=None)
def _samples(domain, n=60):
    return tuple(aerial.render_sample(0, domain, i) for i in range(n))


def _share(samples, cls):
    return np.mean([np.mean(lbl == cls) for _, lbl, _ in samples])


def test_classes_are_data():
    assert aerial.AERIAL_CLASSES == ('background', 'building', 'road',
                                     'water', 'barren', 'tree',
                                     'low vegetation', 'car')
    assert aerial.AERIAL_PALETTE[aerial.BUILDING] == [255, 0, 0]  # LoveDA
    assert aerial.AERIAL_PALETTE[aerial.TREE] == [0, 255, 0]  # Potsdam
    assert len({tuple(c) for c in aerial.AERIAL_PALETTE}) == 8
    assert aerial.NUM_CLASSES == 8


def test_class_table_errors_name_the_file(tmp_path):
    bad = tmp_path / 'classes.csv'
    bad.write_text('# comment\ntrain_id,name,r,g,b\n1,road,1,2,3\n')
    with pytest.raises(ValueError, match=f'{bad}: row 2: expected '
                       'train_id 0'):
        aerial.load_aerial_classes(str(bad))
    bad.write_text('train_id,name,r,g\n0,road,1,2\n')
    with pytest.raises(ValueError, match='expected columns'):
        aerial.load_aerial_classes(str(bad))
    bad.write_text('train_id,name,r,g,b\n')
    with pytest.raises(ValueError, match='no classes found'):
        aerial.load_aerial_classes(str(bad))


def test_generation_is_deterministic(tmp_path):
    a = _read_all(aerial.generate_aerial(str(tmp_path / 'a'), **SMALL))
    b = _read_all(aerial.generate_aerial(str(tmp_path / 'b'), **SMALL))
    c = _read_all(aerial.generate_aerial(str(tmp_path / 'c'), seed=1,
                                         **SMALL))
    pngs = [k for k in a if k.endswith('.png')]
    assert len(pngs) == 2 * sum(SMALL.values())
    assert a == b
    assert a.keys() == c.keys()
    assert sum(a[k] != c[k] for k in pngs) >= len(pngs) - 2


def test_layout_sizes_and_label_values(tmp_path):
    root = aerial.generate_aerial(str(tmp_path / 'm'), size=(48, 64),
                                  **SMALL)
    pairs = []
    for domain in ('source', 'source_val'):
        imgs = sorted(glob.glob(osp.join(root, domain, 'images', '*.png')))
        assert len(imgs) == SMALL[f'n_{domain}']
        pairs += [(p, osp.join(root, domain, 'labels', osp.basename(p)[:-4] +
                               '_labelTrainIds.png')) for p in imgs]
    for split in ('train', 'val'):
        imgs = sorted(glob.glob(osp.join(root, 'target/leftImg8bit', split,
                                         'aerial', '*_leftImg8bit.png')))
        assert len(imgs) == SMALL[f'n_target_{split}']
        assert osp.basename(imgs[0]) == 'aerial_000000_leftImg8bit.png'
        pairs += [(p, p.replace('/leftImg8bit/', '/gtFine/').replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')) for p in imgs]
        with open(osp.join(root, 'target', f'conditions_{split}.csv')) as f:
            rows = list(csv.DictReader(f))
        assert [r['image'] for r in rows] == [
            osp.basename(p)[:-len('_leftImg8bit.png')] for p in imgs]
        assert {r['condition'] for r in rows} <= set(aerial.LAYOUTS)
        for r in rows:
            assert 0 <= float(r['severity']) <= 1
            assert 0 <= float(r['urbanness']) <= 1
            assert 0.3 < float(r['gsd_m']) < 0.6
    for img_path, lbl_path in pairs:
        img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED)
        lbl = cv2.imread(lbl_path, cv2.IMREAD_UNCHANGED)
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert lbl.shape == (48, 64) and lbl.dtype == np.uint8
        assert set(np.unique(lbl).tolist()) <= set(range(8)) | {255}


def test_every_class_in_every_split_and_no_data_is_ignored():
    for domain in SPLITS:
        samples = _samples(domain)
        counts = sum(np.bincount(lbl.ravel(), minlength=256)
                     for _, lbl, _ in samples)
        share = counts[:8] / counts.sum()
        # every class, the rare ones (water, car) included
        assert (share > 0.01).all(), (domain, share.round(3))
        assert share.max() < 0.45, (domain, share.round(3))
        present = np.array([[np.any(lbl == k) for k in range(8)]
                            for _, lbl, _ in samples]).sum(0)
        assert present[aerial.WATER] >= 5 and present[aerial.CAR] >= 20
    # no-data corners: label 255 and a black image there, a few tiles only
    tiles = [s for d in SPLITS for s in _samples(d)]
    nodata = [(img, lbl) for img, lbl, _ in tiles if (lbl == 255).any()]
    assert 1 <= len(nodata) <= 0.1 * len(tiles)
    for img, lbl in nodata:
        assert (img[lbl == 255] == 0).all()


def _vegetation_red_over_green(samples):
    ratios = []
    for img, lbl, _ in samples:
        veg = (lbl == aerial.TREE) | (lbl == aerial.LOW_VEGETATION)
        if veg.sum() > 100:
            px = img[veg].astype(np.float64)
            ratios.append(px[:, 0].mean() / px[:, 1].mean())
    return np.array(ratios)


def _car_sizes(samples):
    sizes = []
    for _, lbl, _ in samples:
        n, _, stats, _ = cv2.connectedComponentsWithStats(
            (lbl == aerial.CAR).astype(np.uint8), connectivity=4)
        sizes += stats[1:, cv2.CC_STAT_AREA].tolist()
    return np.array(sizes)


def test_target_differs_by_the_intended_shift():
    src = _samples('source')
    tgt = _samples('target_train', 120)
    info = [i for _, _, i in tgt]
    sev = np.array([i['severity'] for i in info])
    assert sev.min() < 0.1 and sev.max() > 0.9
    assert all(i['severity'] == 0 for _, _, i in src)
    full = [s for s, v in zip(tgt, sev) if v >= 1 / aerial._SHIFT_GAIN]
    mild = [s for s, v in zip(tgt, sev) if v < 0.15]
    assert len(full) > 20 and len(mild) > 10
    # sensor: vegetation is green in true colour, red in the false colour
    assert np.median(_vegetation_red_over_green(src)) < 0.9
    assert np.median(_vegetation_red_over_green(mild)) < 0.9
    assert np.median(_vegetation_red_over_green(full)) > 1.2
    # resolution: a finer ground sampling distance, larger cars in pixels
    assert max(i['gsd'] for _, _, i in full) < min(i['gsd']
                                                    for _, _, i in src)
    assert np.median(_car_sizes(full)) > 1.4 * np.median(_car_sizes(src))
    # layout: town in the source, countryside in the target
    assert (np.mean([i['urbanness'] for _, _, i in src]) - np.mean(
        [i['urbanness'] for i in info])) > 0.3
    assert _share(src, aerial.BUILDING) > 1.5 * _share(tgt, aerial.BUILDING)
    assert _share(src, aerial.CAR) > 1.5 * _share(tgt, aerial.CAR)
    assert (_share(tgt, aerial.LOW_VEGETATION) >
            1.5 * _share(src, aerial.LOW_VEGETATION))


def test_ensure_aerial_is_atomic_and_refuses_foreign_folder(
        monkeypatch, tmp_path):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'keep.txt').write_text('x')
    with pytest.raises(FileExistsError) as err:
        aerial.ensure_aerial(str(tmp_path / 'mine'))
    assert str(err.value) == (
        f'aerial: {tmp_path / "mine"} exists and is not a generated aerial '
        f'data set (no {MARKER}); remove it or pick another root')
    assert os.listdir(tmp_path / 'mine') == ['keep.txt']

    def boom(folder, **kwargs):
        open(osp.join(folder, 'half.png'), 'w').close()
        raise RuntimeError('generator failed')

    monkeypatch.setattr(aerial, 'generate_aerial', boom)
    with pytest.raises(RuntimeError, match='generator failed'):
        aerial.ensure_aerial(str(tmp_path / 'new'))
    assert sorted(os.listdir(tmp_path)) == ['mine']  # no half-written cache


def test_dataset_classes_generate_and_read_it(monkeypatch, tmp_path):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets.transforms import LoadAnnotations
    from mmseg.registry import DATASETS
    monkeypatch.setenv('CLST_MMSEG_DATA_DIR', str(tmp_path))
    monkeypatch.setattr(aerial, 'DEFAULT_COUNTS', dict(SMALL))
    pipeline = [LoadImageFromFile(), LoadAnnotations()]
    src = DATASETS.build(dict(type='AerialSourceDataset', pipeline=pipeline))
    assert src.data_root == osp.join(aerial.default_root(), 'source')
    assert len(src) == SMALL['n_source']
    assert src.metainfo['classes'] == aerial.AERIAL_CLASSES
    held_out = DATASETS.build(dict(type='AerialSourceDataset', split='val',
                                   pipeline=pipeline))
    assert held_out.data_root == osp.join(aerial.default_root(),
                                          'source_val')
    assert len(held_out) == SMALL['n_source_val']
    val = DATASETS.build(dict(
        type='AerialTargetDataset',
        data_prefix=dict(img_path='leftImg8bit/val',
                         seg_map_path='gtFine/val'),
        pipeline=pipeline))
    assert len(val) == SMALL['n_target_val']
    assert val.metainfo['palette'] == aerial.AERIAL_PALETTE
    seg = val[0]['gt_seg_map']
    assert seg.shape == (64, 64)
    assert set(np.unique(seg).tolist()) <= set(range(8)) | {255}


def _flat(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


DATA_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
             'source_val_dataloader')


@pytest.mark.parametrize('method', METHODS)
def test_configs_are_the_mini_configs_on_aerial_data(method):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    clst_mmseg.register_all_modules()
    register_all_modules()
    cfg = Config.fromfile(f'{ROOT}/configs/{method}/aerial.py')
    mini = _flat(Config.fromfile(
        f'{ROOT}/configs/{method}/mini.py').to_dict())
    aer = _flat(cfg.to_dict())
    differ = {k for k in mini.keys() | aer.keys() if mini.get(k) != aer.get(k)}
    if 'model.fd_classes' in mini:  # DAFormer's (off) feature distance
        assert aer['model.fd_classes'] == [1, 7]  # building, car
        differ.discard('model.fd_classes')
    assert differ == {
        'train_dataloader.dataset.source.type',
        'train_dataloader.dataset.target.type',
        'val_dataloader.dataset.type', 'test_dataloader.dataset.type',
        'source_val_dataloader.dataset.type',
        'model.segmentor.decode_head.num_classes'
    }
    assert aer['model.segmentor.decode_head.num_classes'] == 8
    assert aer['source_val_dataloader.dataset.split'] == 'val'
    # the data are the dataset base's (the oracle trains on target labels)
    base = Config.fromfile(f'{ROOT}/configs/_base_/datasets/aerial.py')
    for key in DATA_KEYS:
        want = base[key].to_dict()
        if method == 'oracle' and key == 'train_dataloader':
            assert aer['train_dataloader.dataset.source.type'] == (
                'AerialTargetDataset')
            continue
        got = cfg[key].to_dict()
        if key == 'train_dataloader' and 'rare_class_sampling' in got.get(
                'dataset', {}):  # DAFormer's recipe samples rare classes
            got['dataset'].pop('rare_class_sampling')
        assert got == want, key
    # the method's model builds for 8 classes
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.num_classes == 8
    model.eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 64, 64), mode='tensor')
    assert logits.shape[:2] == (1, 8)


def test_dataset_base_is_mini_on_aerial_data():
    mini = _flat(Config.fromfile(
        f'{ROOT}/configs/_base_/datasets/mini.py').to_dict())
    aer = _flat(Config.fromfile(
        f'{ROOT}/configs/_base_/datasets/aerial.py').to_dict())
    differ = {k for k in mini.keys() | aer.keys() if mini.get(k) != aer.get(k)}
    assert {k: aer[k] for k in differ} == {
        'train_dataloader.dataset.source.type': 'AerialSourceDataset',
        'train_dataloader.dataset.target.type': 'AerialTargetDataset',
        'val_dataloader.dataset.type': 'AerialTargetDataset',
        'test_dataloader.dataset.type': 'AerialTargetDataset',
        'source_val_dataloader.dataset.type': 'AerialSourceDataset',
    }


def test_default_suite_runs_every_method_on_aerial():
    from clst_mmseg.benchmark.cli import DEFAULT_SUITE
    from clst_mmseg.benchmark.suite import load_suite
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        suite = load_suite(DEFAULT_SUITE)
    finally:
        os.chdir(cwd)
    assert suite.tasks[-1] == 'aerial'
    assert suite.task_title('aerial') == (
        'aerial (town → countryside, summer → winter, RGB → false colour; '
        '8 classes)')
    runs = [r for r in suite.runs if r.task == 'aerial']
    assert {r.method for r in runs} == set(METHODS)
    assert len(runs) == len(METHODS) * 3
    assert all(r.config.endswith(f'configs/{r.method}/aerial.py')
               for r in runs)
