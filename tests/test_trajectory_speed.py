"""What makes the trajectory points cheaper keeps their numbers:
CachedBatches replays its first complete pass from memory (within its
budget), the hook's points score the same from the cache as from fresh
reads of the images (without reading them again), and the labels it
compares are argmax's."""
import copy
import os.path as osp
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from clst_mmseg.datasets import mini
from clst_mmseg.datasets.cached_batches import CachedBatches, batch_nbytes
from clst_mmseg.engine.hooks.trajectory_hook import (CheckpointTrajectoryHook,
                                                     _without_labels)
from conftest import ROOT


class CountingLoader:
    """A loader over fixed batches that counts the passes started."""

    def __init__(self, batches):
        self.batches = batches
        self.passes = 0
        self.dataset = 'the dataset'

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.passes += 1
        return iter(self.batches)


def _batch(n=2):
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 4, 4, dtype=torch.int64))
    return dict(inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8)] * n,
                data_samples=[sample] * n)


def test_batch_nbytes_counts_inputs_and_labels():
    # 2 x (3*4*4 uint8 + 4*4 int64) = 2 x (48 + 128)
    assert batch_nbytes(_batch()) == 352
    assert batch_nbytes(dict(a=np.zeros(10, np.float32), b='meta')) == 40


def test_second_pass_replays_the_first_without_the_loader():
    batches = [_batch(), _batch()]
    loader = CountingLoader(batches)
    cached = CachedBatches(loader, max_mb=1)
    assert not cached.cached
    first = list(cached)
    assert cached.cached and cached.nbytes == 2 * 352
    for _ in range(3):
        again = list(cached)
        assert len(again) == 2
        assert all(a is b for a, b in zip(again, first))
    assert loader.passes == 1
    assert cached.dataset == 'the dataset' and len(cached) == 2


def test_an_abandoned_pass_keeps_nothing():
    loader = CountingLoader([_batch(), _batch()])
    cached = CachedBatches(loader, max_mb=1)
    for _ in cached:
        break
    assert not cached.cached
    assert len(list(cached)) == 2 and cached.cached
    assert loader.passes == 2


@pytest.mark.parametrize('max_mb', [0, 500 / 2**20])  # nothing; < 2 batches
def test_a_set_over_the_budget_is_read_every_time(max_mb):
    loader = CountingLoader([_batch(), _batch()])
    cached = CachedBatches(loader, max_mb=max_mb)
    for _ in range(3):
        assert len(list(cached)) == 2
    assert not cached.cached and loader.passes == 3
    assert cached.too_large == (max_mb > 0)
    with pytest.raises(ValueError, match='max_mb must be >= 0'):
        CachedBatches(loader, max_mb=-1)


def test_a_loader_on_the_global_generator_is_refused():
    # its passes draw base seeds from torch's global generator: skipping
    # them would change the training's random stream
    from torch.utils.data import DataLoader
    with pytest.raises(ValueError, match='generator of its own'):
        CachedBatches(DataLoader([1, 2, 3]))
    CachedBatches(DataLoader([1, 2, 3], generator=torch.Generator()))


@pytest.fixture(scope='module')
def small_mini(tmp_path_factory):
    return mini.generate_mini(
        str(tmp_path_factory.mktemp('m')), seed=0, n_source=2,
        n_target_train=6, n_target_val=2, n_source_val=5)


def _hook(cfg, root, cache_mb):
    hook = CheckpointTrajectoryHook(num_points=2, target_images=5,
                                    batch_size=2, cache_mb=cache_mb)
    target = copy.deepcopy(cfg.train_dataloader.dataset.target)
    pipeline = _without_labels(cfg.val_dataloader.dataset.pipeline)
    target.update(data_root=osp.join(root, 'target'), indices=5,
                  pipeline=pipeline)
    source = copy.deepcopy(cfg.source_val_dataloader.dataset)
    source.update(data_root=osp.join(root, 'source_val'))
    hook._target = hook._loader(target.to_dict())
    hook._source = hook._loader(source.to_dict())
    hook._source_metric = copy.deepcopy(cfg.val_evaluator)
    return hook


def test_trajectory_points_score_the_same_from_the_cache(small_mini):
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/source_only/mini.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    runner = SimpleNamespace(hooks=[])
    fresh, cached = _hook(cfg, small_mini, 0), _hook(cfg, small_mini, 512)

    def score(hook):
        return hook._target_criteria(runner, model), hook._source_miou(model)

    expected = score(fresh)
    assert score(fresh) == expected  # fresh reads agree with themselves
    assert score(cached) == expected  # first point: read and kept
    assert cached._target.cached and cached._source.cached
    assert not fresh._target.cached
    # later points read no image
    with mock.patch.object(cached._target.dataset, 'prepare_data',
                           side_effect=AssertionError('read again')), \
            mock.patch.object(cached._source.dataset, 'prepare_data',
                              side_effect=AssertionError('read again')):
        for _ in range(2):
            assert score(cached) == expected


def test_max_indices_are_argmax_labels():
    """The agreement criterion takes labels with max(0).indices (argmax(0)
    is ~15x slower on the CPU): the same first maximum on ties and NaN."""
    torch.manual_seed(0)
    probs = torch.rand(7, 16, 16).softmax(0)
    probs[:, 0, :4] = 0.25  # ties: the first class wins
    probs[3, 1, :2] = float('nan')  # NaN counts as the maximum
    probs[[2, 5], 2, :3] = float('nan')
    assert torch.equal(probs.max(0).indices, probs.argmax(0))
    assert probs.max(0).indices[0, 0] == 0
    assert probs.max(0).indices[1, 0] == 3 and probs.max(0).indices[2, 0] == 2
