"""The caching loaders hand out exactly what mmcv's / mmseg's loaders
decode, decode each file once, and keep to their memory budget."""
import os.path as osp
from unittest import mock

import mmcv
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets import CityscapesDataset
from mmseg.datasets.transforms import LoadAnnotations

from clst_mmseg.datasets import mini
from clst_mmseg.datasets.transforms import (CachedLoadAnnotations,
                                            CachedLoadImageFromFile)
from clst_mmseg.datasets.transforms.cached_loading import DecodedCache

SMALL = dict(n_source=4, n_target_train=4, n_target_val=3)


@pytest.fixture(scope='module')
def val_items(tmp_path_factory):
    root = mini.generate_mini(str(tmp_path_factory.mktemp('m')), seed=0,
                              **SMALL)
    ds = CityscapesDataset(
        data_root=osp.join(root, 'target'),
        metainfo=dict(classes=mini.MINI_CLASSES),
        data_prefix=dict(img_path='leftImg8bit/val',
                         seg_map_path='gtFine/val'),
        pipeline=[])
    return [ds[i] for i in range(len(ds))]


def _load(transforms, info):
    results = dict(info, seg_fields=[])
    for t in transforms:
        results = t(results)
    return results


def test_same_arrays_as_the_parent_loaders_and_one_decode(val_items):
    plain = [LoadImageFromFile(), LoadAnnotations()]
    cached = [CachedLoadImageFromFile(), CachedLoadAnnotations()]
    with mock.patch('mmcv.imfrombytes', wraps=mmcv.imfrombytes) as decode:
        for _ in range(3):
            for info in val_items:
                want, got = _load(plain, info), _load(cached, info)
                for key in ('img', 'gt_seg_map'):
                    assert got[key].dtype == want[key].dtype
                    np.testing.assert_array_equal(got[key], want[key])
                for key in ('img_shape', 'ori_shape', 'seg_fields'):
                    assert got[key] == want[key]
    # 3 rounds x 3 files x (image, label): plain 18 decodes, cached 6
    assert decode.call_count == 18 + 6
    assert len(cached[0].cache) == len(cached[1].cache) == 3


def test_cached_arrays_are_copies(val_items):
    load = CachedLoadImageFromFile()
    first = _load([load], val_items[0])['img']
    kept = first.copy()
    first[:] = 0  # a later transform writing into its input
    np.testing.assert_array_equal(_load([load], val_items[0])['img'], kept)


def test_budget():
    cache = DecodedCache(max_mb=1)
    big = np.zeros(600 * 1024, np.uint8)
    cache.put('a', big)
    cache.put('b', big)  # would exceed 1 MiB: not kept
    assert len(cache) == 1 and cache.nbytes == big.nbytes
    assert cache.get('b') is None and cache.get('a') is not None
    with pytest.raises(ValueError, match='cache_mb must be >= 0, got -1'):
        DecodedCache(-1)
