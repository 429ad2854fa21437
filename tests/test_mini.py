"""Tests of the built-in mini task generator (clst_mmseg.datasets.mini)."""
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.datasets import mini

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SMALL = dict(n_source=6, n_target_train=5, n_target_val=4, n_source_val=3)


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
    assert mini.MINI_CLASSES == ('road', 'sidewalk', 'building', 'pole',
                                 'vegetation', 'sky', 'car')
    assert len(mini.MINI_PALETTE) == len(mini.MINI_CLASSES)
    assert mini.MINI_PALETTE[0] == [128, 64, 128]
    assert all(len(c) == 3 for c in mini.MINI_PALETTE)


def test_generation_is_deterministic(tmp_path):
    a = _read_all(mini.generate_mini(str(tmp_path / 'a'), seed=0, **SMALL))
    b = _read_all(mini.generate_mini(str(tmp_path / 'b'), seed=0, **SMALL))
    c = _read_all(mini.generate_mini(str(tmp_path / 'c'), seed=1, **SMALL))
    assert len(a) == 2 * sum(SMALL.values())
    assert a == b
    assert a.keys() == c.keys()
    differing = [k for k in a if a[k] != c[k]]
    assert len(differing) >= len(a) - 2


def test_layout_matches_dataset_conventions(tmp_path):
    root = mini.generate_mini(str(tmp_path / 'm'), seed=0, size=(48, 64),
                              **SMALL)
    src_imgs = sorted(glob.glob(osp.join(root, 'source/images/*.png')))
    assert [osp.basename(p) for p in src_imgs] == [
        f'{i:05d}.png' for i in range(SMALL['n_source'])]
    pairs = [(p, osp.join(root, 'source/labels',
                          osp.basename(p)[:-4] + '_labelTrainIds.png'))
             for p in src_imgs]
    for split in ('train', 'val'):
        imgs = sorted(
            glob.glob(osp.join(root, 'target/leftImg8bit', split, 'mini',
                               '*_leftImg8bit.png')))
        assert len(imgs) == SMALL[f'n_target_{split}']
        assert osp.basename(imgs[0]) == 'mini_000000_leftImg8bit.png'
        pairs += [(p, p.replace('/leftImg8bit/', '/gtFine/').replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')) for p in imgs]
    allowed = set(range(len(mini.MINI_CLASSES))) | {255}
    for img_path, lbl_path in pairs:
        img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED)
        lbl = cv2.imread(lbl_path, cv2.IMREAD_UNCHANGED)
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert lbl.shape == (48, 64) and lbl.dtype == np.uint8
        assert set(np.unique(lbl).tolist()) <= allowed


def test_mmseg_dataset_classes_read_it(tmp_path):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import BaseSegDataset, CityscapesDataset
    from mmseg.datasets.transforms import LoadAnnotations
    root = mini.generate_mini(str(tmp_path / 'm'), seed=0, **SMALL)
    meta = dict(classes=mini.MINI_CLASSES, palette=mini.MINI_PALETTE)
    val = CityscapesDataset(
        data_root=osp.join(root, 'target'), metainfo=meta,
        data_prefix=dict(img_path='leftImg8bit/val',
                         seg_map_path='gtFine/val'),
        pipeline=[LoadImageFromFile(), LoadAnnotations()])
    assert len(val) == SMALL['n_target_val']
    assert val.metainfo['classes'] == mini.MINI_CLASSES
    item = val[0]
    assert item['gt_seg_map'].shape == item['img'].shape[:2]
    src = BaseSegDataset(
        data_root=osp.join(root, 'source'), metainfo=meta,
        img_suffix='.png', seg_map_suffix='_labelTrainIds.png',
        data_prefix=dict(img_path='images', seg_map_path='labels'),
        pipeline=[])
    assert len(src) == SMALL['n_source']
    assert osp.isfile(src[0]['seg_map_path'])


def test_class_statistics():
    n = 40
    src_sum = np.zeros((7, 3))
    tgt_sum = np.zeros((7, 3))
    src_cnt = np.zeros(7)
    tgt_cnt = np.zeros(7)
    for domain in ('source', 'target_train', 'target_val'):
        present = np.zeros(7, bool)
        for i in range(n):
            img, lbl, severity = mini.render_sample(0, domain, i)
            present[np.unique(lbl)] = True
            if domain == 'source':
                assert severity == 0
            else:
                assert 0 <= severity <= 1
            for k in range(7):
                m = lbl == k
                s, c = (src_sum, src_cnt) if domain == 'source' else (
                    tgt_sum, tgt_cnt)
                s[k] += img[m].sum(0)
                c[k] += m.sum()
        assert present.all(), f'{domain}: missing classes {~present}'
    shift = np.linalg.norm(src_sum / src_cnt[:, None] -
                           tgt_sum / tgt_cnt[:, None], axis=1)
    # The region classes carry a systematic palette shift (car colours
    # are shared across domains, only lighting changes them).
    assert (shift[:6] > 15).all(), shift


def test_severity_spans_easy_to_hard():
    sev = [mini.render_sample(0, 'target_train', i, (32, 32))[2]
           for i in range(60)]
    assert min(sev) < 0.2 and max(sev) > 0.8


def test_ensure_mini_refuses_foreign_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(mini, 'DEFAULT_COUNTS', dict(SMALL))
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'keep.txt').write_text('x')
    with pytest.raises(FileExistsError,
                       match='is not a generated mini data set '
                       r'\(no MINI_COMPLETE.json\)'):
        mini.ensure_mini(str(tmp_path / 'mine'))
    assert (tmp_path / 'mine' / 'keep.txt').exists()


def test_ensure_mini_concurrent(tmp_path):
    # Two processes generate at once; generation is slowed down so that both
    # are in flight together and the second rename meets the first's result.
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        from clst_mmseg.datasets import mini
        mini.DEFAULT_COUNTS.update({SMALL!r})
        gen = mini.generate_mini
        def slow(*a, **k):
            out = gen(*a, **k)
            time.sleep(1.5)
            return out
        mini.generate_mini = slow
        print(mini.ensure_mini({str(tmp_path / 'cache')!r}))
    """)
    procs = [
        subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == str(tmp_path / 'cache')
    assert os.listdir(tmp_path) == ['cache']  # no temp folders left
    assert len(_files(tmp_path / 'cache')) == 2 * sum(SMALL.values())
    assert osp.isfile(tmp_path / 'cache' / mini.MARKER)
