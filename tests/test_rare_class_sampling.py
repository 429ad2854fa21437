"""Per-image class statistics (written by the converters and the generated
tasks, read back) and DAFormer's rare class sampling: the class
distribution, the candidate images, the crop retries."""
import json
import math
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from clst_mmseg.datasets.class_stats import (CLASS_STATS_FILE,
                                             ClassStatsError,
                                             compute_class_stats,
                                             count_classes, files_with_class,
                                             load_class_stats,
                                             rcs_class_probs,
                                             write_class_stats)
from clst_mmseg.datasets.rare_class_sampling import RareClassSampler
from fixtures_real_layouts import make_gta

register_all_modules()


def _write_labels(root, maps):
    os.makedirs(osp.join(root, 'labels'), exist_ok=True)
    paths = []
    for i, m in enumerate(maps):
        p = osp.join(root, 'labels', f'{i:05d}_labelTrainIds.png')
        cv2.imwrite(p, np.asarray(m, np.uint8))
        paths.append(p)
    return paths


def test_count_classes_skips_ignore_and_refuses_foreign_labels():
    label = np.array([[0, 0, 2], [255, 2, 2]])
    assert count_classes(label, 3) == {0: 2, 2: 3}
    with pytest.raises(ClassStatsError, match='x.png: holds label 5, '
                       'outside the 3 classes'):
        count_classes(np.array([[5, 0]]), 3, where='x.png')


def test_stats_file_round_trip(tmp_path):
    root = str(tmp_path)
    paths = _write_labels(root, [[[0, 1], [1, 255]], [[2, 2], [2, 2]]])
    stats = compute_class_stats(root, paths, num_classes=3)
    assert stats == {'labels/00000_labelTrainIds.png': {0: 1, 1: 2},
                     'labels/00001_labelTrainIds.png': {2: 4}}
    path = write_class_stats(root, stats, num_classes=3)
    assert path == osp.join(root, CLASS_STATS_FILE)
    assert CLASS_STATS_FILE == 'sample_class_stats.json'
    assert load_class_stats(root, num_classes=3) == stats
    assert not [f for f in os.listdir(root) if '.tmp-' in f]


def test_stats_file_errors_name_file_and_remedy(tmp_path):
    root = str(tmp_path)
    f = osp.join(root, CLASS_STATS_FILE)
    with pytest.raises(ClassStatsError, match=f'{f} is missing .*'
                       r'tools/convert_datasets'):
        load_class_stats(root)
    with open(f, 'w') as fh:  # what DAFormer's converters write
        json.dump([{'0': 5, 'file': 'data/gta/labels/1.png'}], fh)
    with pytest.raises(ClassStatsError, match="a list, as DAFormer's own"):
        load_class_stats(root)
    write_class_stats(root, {'a.png': {0: 1}}, num_classes=19)
    with pytest.raises(ClassStatsError, match='counts 19 classes, the data '
                       'set has 7'):
        load_class_stats(root, num_classes=7)


def test_rcs_probabilities_follow_the_formula():
    stats = {'a.png': {0: 800, 1: 60}, 'b.png': {0: 100, 1: 30, 2: 10}}
    classes, probs = rcs_class_probs(stats, temperature=0.01)
    # ascending pixel count, as the release orders them
    assert classes == [2, 1, 0]
    f = {0: 0.9, 1: 0.09, 2: 0.01}
    e = {c: math.exp((1 - f[c]) / 0.01) for c in f}
    z = sum(e.values())
    assert probs == pytest.approx([e[c] / z for c in classes], rel=1e-9)
    # a high temperature flattens it
    _, flat = rcs_class_probs(stats, temperature=100.0)
    assert flat.max() - flat.min() < 0.01
    with pytest.raises(ValueError, match='temperature must be > 0'):
        rcs_class_probs(stats, 0)


def test_candidate_files_need_more_than_min_pixels():
    stats = {'a': {0: 3000, 1: 3001}, 'b': {1: 5000}}
    assert files_with_class(stats, 3000) == {1: ['a', 'b']}


class _CropDataset:
    """A labelled dataset whose every draw returns the next crop of a
    scripted sequence (how many pixels of class 1 each crop holds)."""

    def __init__(self, root, n_images, crops):
        self.data_root = root
        self.metainfo = dict(classes=('a', 'b'))
        self.n = n_images
        self.crops = list(crops)
        self.calls = []

    def __len__(self):
        return self.n

    def get_data_info(self, i):
        return dict(seg_map_path=osp.join(
            self.data_root, 'labels', f'{i:05d}_labelTrainIds.png'))

    def __getitem__(self, i):
        self.calls.append(i)
        n = self.crops.pop(0)
        label = torch.zeros(1, 4, 4, dtype=torch.long)
        label.view(-1)[:n] = 1
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=label)
        return dict(data_samples=s)


def _crop_dataset(tmp_path, crops):
    root = str(tmp_path)
    # image 0: class 1 covers 12 of 16 pixels; image 1: none of class 1
    paths = _write_labels(root, [[[1] * 4] * 3 + [[0] * 4], [[0] * 4] * 4])
    write_class_stats(root, compute_class_stats(root, paths, 2), 2)
    return _CropDataset(root, 2, crops)


def test_crop_is_drawn_again_until_the_class_is_in_it(tmp_path):
    ds = _crop_dataset(tmp_path, crops=[0, 1, 3, 9])
    rcs = RareClassSampler(ds, class_temp=1e-3, min_pixels=4,
                           min_crop_ratio=0.5)
    assert rcs.classes == [1, 0]
    # image 0 holds 4 pixels of class 0: not more than min_pixels
    assert rcs.indices_with_class == {1: [0], 0: [1]}
    np.random.seed(0)
    out = rcs.sample()  # class 1 (P ~ 1): image 0, crops with 0, 1, 3 px
    assert ds.calls == [0, 0, 0]  # stopped at the first crop with > 2
    assert int((out['data_samples'].gt_sem_seg.data == 1).sum()) == 3


def test_crop_retries_are_capped(tmp_path):
    ds = _crop_dataset(tmp_path, crops=[0] * 12)
    rcs = RareClassSampler(ds, class_temp=1e-3, min_pixels=4,
                           min_crop_ratio=0.5, max_crop_retries=10)
    np.random.seed(0)
    rcs.sample()
    assert len(ds.calls) == 11  # the first crop and 10 retries
    ds = _crop_dataset(tmp_path, crops=[0] * 3)
    RareClassSampler(ds, 1e-3, 4, min_crop_ratio=0).sample()
    assert len(ds.calls) == 1  # min_crop_ratio 0: the first crop is kept


def test_sampler_refuses_stale_stats_and_classes_without_candidates(
        tmp_path):
    ds = _crop_dataset(tmp_path, crops=[])
    ds.n = 3  # a label file the statistics do not list
    with pytest.raises(ClassStatsError, match='lacks 1 of the dataset\'s 3 '
                       r'label files \(first: labels/00002'):
        RareClassSampler(ds, 0.01, 4, 0.5)
    ds.n = 2
    with pytest.raises(ClassStatsError, match='more than min_pixels=20 '
                       'pixels of class'):
        RareClassSampler(ds, 0.01, 20, 0.5)


@pytest.mark.parametrize('args, message', [
    (dict(class_temp=0), 'class_temp must be a finite number > 0, got 0'),
    (dict(class_temp=float('nan')), 'class_temp must be a finite number > 0'),
    (dict(min_pixels=-1), 'min_pixels must be a finite number >= 0, got -1'),
    (dict(min_crop_ratio=float('inf')),
     'min_crop_ratio must be a finite number >= 0, got inf'),
])
def test_sampler_refuses_values_out_of_range(tmp_path, args, message):
    ds = _crop_dataset(tmp_path, crops=[])
    kwargs = dict(class_temp=0.01, min_pixels=4, min_crop_ratio=0.5)
    kwargs.update(args)
    with pytest.raises(ValueError, match=message.replace('(', r'\(')):
        RareClassSampler(ds, **kwargs)


def test_uda_dataset_draws_the_rare_class(mini_data_dir):
    from mmseg.registry import DATASETS
    from clst_mmseg.datasets.mini import POLE
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='RecordedRandomCrop', crop_size=(32, 32)),
                dict(type='PackSegInputs')]
    cfg = dict(type='UDADataset',
               source=dict(type='MiniSourceDataset', pipeline=pipeline),
               target=dict(type='MiniTargetDataset',
                           data_prefix=dict(img_path='leftImg8bit/train'),
                           pipeline=[dict(type='LoadImageFromFile'),
                                     dict(type='PackUDAInputs')]))
    plain = DATASETS.build(cfg)
    rcs = DATASETS.build(dict(cfg, rare_class_sampling=dict(
        class_temp=0.01, min_pixels=6, min_crop_ratio=0.5)))
    # the generated cache wrote the statistics beside the source
    assert osp.isfile(osp.join(plain.source.data_root, CLASS_STATS_FILE))
    # mini's pole is the rarest class (2.6 % of the source pixels): rare
    # class sampling draws it ~96 % of the time
    assert rcs.rare_class_sampler.classes[0] == POLE
    assert rcs.rare_class_sampler.class_probs[0] > 0.9
    np.random.seed(0)

    def pole_share(ds):
        px = [(ds[i]['data_samples'].gt_sem_seg.data == POLE).float().mean()
              for i in range(40)]
        return float(torch.stack(px).mean())

    assert pole_share(rcs) > 2 * pole_share(plain)


def test_converter_writes_the_statistics_beside_the_data(tmp_path):
    from clst_mmseg.datasets.convert import conversion_cli
    fx = make_gta(str(tmp_path / 'gta'))
    assert conversion_cli('gta', [fx.root, '--nproc', '1']) == 0
    stats = load_class_stats(fx.root, num_classes=19)
    assert len(stats) == len(fx.expected)
    for converted, trainids in fx.expected.values():
        rel = osp.relpath(converted, fx.root)
        assert stats[rel] == count_classes(trainids, 19)
