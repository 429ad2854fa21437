"""Tests of the built-in adverse task: its generator
(clst_mmseg.datasets.adverse), the atomic cache, its dataset classes and
its per-method configs."""
import csv
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from mmengine.config import Config

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.datasets import adverse
from clst_mmseg.datasets.generated_cache import MARKER, ensure_generated
from conftest import ROOT

SMALL = dict(n_source=6, n_target_train=5, n_target_val=4, n_source_val=3)
METHODS = ('source_only', 'oracle', 'adaptsegnet', 'advent', 'self_training',
           'self_training_cb', 'dacs', 'clst', 'daformer', 'mic',
           'daformer_deeplab', 'clst_daformer')
#: Methods whose adverse config also names adverse's thing classes for the
#: feature distance (off on the CPU tasks).
FD_CLASSES = ('daformer', 'mic', 'daformer_deeplab')


def _files(root):
    return sorted(
        osp.relpath(p, root)
        for p in glob.glob(osp.join(root, '**', '*.png'), recursive=True))


def _read_all(root):
    out = {}
    for rel in _files(root):
        with open(osp.join(root, rel), 'rb') as f:
            out[rel] = f.read()
    return out


def test_classes_come_from_cityscapes_table():
    assert adverse.ADVERSE_CLASSES == ('background', 'road', 'traffic light',
                                       'traffic sign', 'person', 'car')
    assert adverse.ADVERSE_PALETTE[0] == [0, 0, 0]  # Cityscapes' void
    assert adverse.ADVERSE_PALETTE[1] == [128, 64, 128]
    assert adverse.ADVERSE_PALETTE[5] == [0, 0, 142]


def test_generation_is_deterministic(tmp_path):
    a = _read_all(adverse.generate_adverse(str(tmp_path / 'a'), **SMALL))
    b = _read_all(adverse.generate_adverse(str(tmp_path / 'b'), **SMALL))
    c = _read_all(adverse.generate_adverse(str(tmp_path / 'c'), seed=1,
                                           **SMALL))
    assert len(a) == 2 * sum(SMALL.values())
    assert a == b
    assert a.keys() == c.keys()
    assert sum(a[k] != c[k] for k in a) >= len(a) - 2


def test_layout_matches_mini_conventions(tmp_path):
    root = adverse.generate_adverse(str(tmp_path / 'm'), size=(48, 64),
                                    **SMALL)
    pairs = [(p, osp.join(root, 'source/labels',
                          osp.basename(p)[:-4] + '_labelTrainIds.png'))
             for p in sorted(glob.glob(osp.join(root,
                                                'source/images/*.png')))]
    assert len(pairs) == SMALL['n_source']
    held_out = sorted(glob.glob(osp.join(root, 'source_val/images/*.png')))
    assert len(held_out) == SMALL['n_source_val']
    for p in held_out:
        assert osp.isfile(osp.join(root, 'source_val/labels', osp.basename(
            p)[:-4] + '_labelTrainIds.png'))
    for split in ('train', 'val'):
        imgs = sorted(glob.glob(osp.join(root, 'target/leftImg8bit', split,
                                         'adverse', '*_leftImg8bit.png')))
        assert len(imgs) == SMALL[f'n_target_{split}']
        assert osp.basename(imgs[0]) == 'adverse_000000_leftImg8bit.png'
        pairs += [(p, p.replace('/leftImg8bit/', '/gtFine/').replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')) for p in imgs]
        with open(osp.join(root, 'target', f'conditions_{split}.csv')) as f:
            rows = list(csv.DictReader(f))
        assert [r['image'] for r in rows] == [
            osp.basename(p)[:-len('_leftImg8bit.png')] for p in imgs]
        assert {r['condition'] for r in rows} <= set(adverse.CONDITIONS)
        assert all(0 <= float(r['severity']) <= 1 for r in rows)
    for img_path, lbl_path in pairs:
        img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED)
        lbl = cv2.imread(lbl_path, cv2.IMREAD_UNCHANGED)
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert lbl.shape == (48, 64)
        assert set(np.unique(lbl).tolist()) <= set(range(6))


def _samples(domain, n=60):
    return [adverse.render_sample(0, domain, i) for i in range(n)]


def test_small_rare_objects_on_a_dominant_background():
    for domain in ('source', 'target_train'):
        counts = np.zeros(6)
        present = np.zeros(6)
        for _, lbl, _, _ in _samples(domain):
            c = np.bincount(lbl.ravel(), minlength=6)
            counts += c
            present += c > 0
        share = counts / counts.sum()
        assert share[adverse.BACKGROUND] > 0.5, share
        assert 0.2 < share[adverse.ROAD] < 0.45, share
        objects = share[[adverse.LIGHT, adverse.SIGN, adverse.PERSON,
                         adverse.CAR]]
        assert (objects > 0.002).all() and (objects < 0.06).all(), share
        # every object class is present in a part of the images only
        assert (present[2:] > 10).all() and (present[2:] < 55).all(), present


def test_target_conditions_change_appearance_not_layout():
    src = _samples('source')
    tgt = _samples('target_train', 120)
    conditions = [c for _, _, c, _ in tgt]
    assert {c for _, _, c, _ in src} == {'clear'}
    assert set(conditions) == set(adverse.CONDITIONS)
    sev = [s for _, _, _, s in tgt]
    assert min(sev) < 0.1 and max(sev) > 0.9
    src_mean = np.mean([img.mean() for img, _, _, _ in src])
    night = [img.mean() for img, _, c, s in tgt if c == 'night' and s > 0.7]
    assert night and np.mean(night) < 0.5 * src_mean
    # fog flattens local contrast (mean |Laplacian| of the grey image)
    def contrast(img):
        grey = img.mean(2).astype(np.float32)
        return np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean()

    clear = np.mean([contrast(img) for img, _, _, _ in src])
    fog = [contrast(img) for img, _, c, s in tgt if c == 'fog' and s > 0.7]
    assert fog and np.mean(fog) < 0.6 * clear
    # the layout prior is shared: same class shares in both domains
    share = [np.mean([np.mean(lbl == k) for _, lbl, _, _ in d])
             for d in (src, tgt) for k in (adverse.ROAD, )]
    assert abs(share[0] - share[1]) < 0.05


def test_ensure_refuses_foreign_folder(tmp_path):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'keep.txt').write_text('x')
    with pytest.raises(FileExistsError) as err:
        ensure_generated(str(tmp_path / 'mine'), dict(v=1),
                         lambda d: None, 'adverse')
    assert str(err.value) == (
        f'adverse: {tmp_path / "mine"} exists and is not a generated adverse '
        f'data set (no {MARKER}); remove it or pick another root')
    assert os.listdir(tmp_path / 'mine') == ['keep.txt']


def test_failed_generation_leaves_nothing(tmp_path):
    def boom(folder):
        open(osp.join(folder, 'half.png'), 'w').close()
        raise RuntimeError('generator failed')

    with pytest.raises(RuntimeError, match='generator failed'):
        ensure_generated(str(tmp_path / 'c'), dict(v=1), boom, 'adverse')
    assert os.listdir(tmp_path) == []


def test_ensure_generated_concurrent(tmp_path):
    # Two processes generate at once; generation is slowed down so that both
    # are in flight together and the second rename meets the first's result.
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {ROOT!r})
        from clst_mmseg.datasets.generated_cache import ensure_generated
        def slow(folder):
            open(os.path.join(folder, 'data.txt'), 'w').write('ok')
            time.sleep(1.5)
        print(ensure_generated({str(tmp_path / 'cache')!r}, dict(v=1), slow,
                               'adverse'))
    """)
    procs = [
        subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == str(tmp_path / 'cache')
    assert os.listdir(tmp_path) == ['cache']  # no temp folders left
    assert sorted(os.listdir(tmp_path / 'cache')) == [MARKER, 'data.txt']


def test_dataset_classes_generate_and_read_it(monkeypatch, tmp_path):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets.transforms import LoadAnnotations
    from mmseg.registry import DATASETS
    monkeypatch.setenv('CLST_MMSEG_DATA_DIR', str(tmp_path))
    monkeypatch.setattr(adverse, 'DEFAULT_COUNTS', dict(SMALL))
    src = DATASETS.build(dict(
        type='AdverseSourceDataset',
        pipeline=[LoadImageFromFile(), LoadAnnotations()]))
    assert src.data_root == osp.join(adverse.default_root(), 'source')
    assert len(src) == SMALL['n_source']
    assert src.metainfo['classes'] == adverse.ADVERSE_CLASSES
    item = src[0]
    assert set(np.unique(item['gt_seg_map']).tolist()) <= set(range(6))
    val = DATASETS.build(dict(
        type='AdverseTargetDataset',
        data_prefix=dict(img_path='leftImg8bit/val',
                         seg_map_path='gtFine/val'),
        pipeline=[LoadImageFromFile(), LoadAnnotations()]))
    assert len(val) == SMALL['n_target_val']
    assert val.metainfo['classes'] == adverse.ADVERSE_CLASSES
    assert val.metainfo['palette'] == adverse.ADVERSE_PALETTE
    assert val[0]['gt_seg_map'].shape == (64, 64)


def _flat(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


@pytest.mark.parametrize('method', METHODS)
def test_configs_are_the_mini_configs_on_adverse_data(method):
    mini = _flat(Config.fromfile(
        f'{ROOT}/configs/{method}/mini.py').to_dict())
    adv = _flat(Config.fromfile(
        f'{ROOT}/configs/{method}/adverse.py').to_dict())
    differ = {k for k in mini.keys() | adv.keys() if mini.get(k) != adv.get(k)}
    assert differ == {
        'train_dataloader.dataset.source.type',
        'train_dataloader.dataset.target.type',
        'val_dataloader.dataset.type', 'test_dataloader.dataset.type',
        'source_val_dataloader.dataset.type',
        'model.segmentor.decode_head.num_classes'
    } | ({'model.fd_classes'} if method in FD_CLASSES else set())
    assert adv['source_val_dataloader.dataset.type'] == 'AdverseSourceDataset'
    assert adv['source_val_dataloader.dataset.split'] == 'val'
    assert adv['model.segmentor.decode_head.num_classes'] == len(
        adverse.ADVERSE_CLASSES)
    assert adv['train_dataloader.dataset.source.type'] == (
        'AdverseTargetDataset' if method == 'oracle' else
        'AdverseSourceDataset')
    assert adv['val_dataloader.dataset.type'] == 'AdverseTargetDataset'


def test_default_suite_runs_every_method_on_every_task():
    from clst_mmseg.benchmark.cli import DEFAULT_SUITE
    from clst_mmseg.benchmark.suite import load_suite
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        both = load_suite(DEFAULT_SUITE)
        mini = load_suite('configs/benchmarks/mini.py')
    finally:
        os.chdir(cwd)
    assert DEFAULT_SUITE == 'configs/benchmarks/default.py'
    assert both.tasks == ['mini', 'adverse', 'aerial']
    assert [m.name for m in both.methods] == [m.name for m in mini.methods]
    assert len(both.runs) == 3 * len(mini.runs)
    assert both.task_title('adverse') == (
        'adverse (clear day → night, fog, rain; 6 classes)')
    # the mini runs are the mini suite's (same run ids: records are shared)
    assert [r.run_id for r in both.runs if r.task == 'mini'] == [
        r.run_id for r in mini.runs]
    adverse_runs = [r for r in both.runs if r.task == 'adverse']
    assert {r.method for r in adverse_runs} == set(METHODS)
    assert all(r.config.endswith(f'configs/{r.method}/adverse.py')
               for r in adverse_runs)
