"""PseudoLabelDiagnosticsHook: ground truth in the augmented frame, the
scores on a hand-made case, the exposure of every self-training-family
method, and (slow) a short mini run: sane numbers in scalars.json and the
same weights with and without the hook (no label leaks into training)."""
import logging
import os
import random
import os.path as osp
import sys
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS, MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from clst_mmseg.engine.hooks import PseudoLabelDiagnosticsHook
from clst_mmseg.evaluation.pseudo_label_quality import (confusion_counts,
                                                        labels_in_aug_frame,
                                                        pseudo_label_scores)
from clst_mmseg.benchmark.workdir import pseudo_label_curve, read_scalars
from clst_mmseg.datasets.convert import convert_dataset
from conftest import ROOT
from forked_tool import run_tool
from fixtures_real_layouts import make_cityscapes

register_all_modules(init_default_scope=True)


def test_ground_truth_follows_resize_crop_and_flip():
    gt = np.arange(24, dtype=np.uint8).reshape(4, 6)
    meta = dict(img_shape=(4, 6), scale_factor=(2.0, 2.0),
                crop_bbox=(2, 6, 3, 9), flip=True,
                flip_direction='horizontal')
    resized = gt.repeat(2, axis=0).repeat(2, axis=1)  # 8 x 12, nearest
    expected = resized[2:6, 3:9][:, ::-1]
    assert np.array_equal(labels_in_aug_frame(gt, meta), expected)
    plain = dict(img_shape=(4, 6))
    assert np.array_equal(labels_in_aug_frame(gt, plain), gt)
    with pytest.raises(ValueError, match='not recorded'):
        labels_in_aug_frame(gt, dict(img_shape=(3, 6)))


def test_scores_on_a_hand_made_case():
    pseudo = torch.tensor([[0, 0, 1, 255], [1, 2, 255, 2]])
    gt = torch.tensor([[0, 1, 1, 0], [1, 255, 2, 2]])
    counts = confusion_counts(pseudo, gt, 3)
    assert int(counts.sum()) == 8
    s = pseudo_label_scores(counts, ['a', 'b', 'c'])
    # 6 of 8 pixels labelled; 5 labelled with known truth, 4 correct;
    # 7 pixels with known truth
    assert s['coverage'] == pytest.approx(6 / 8)
    assert s['precision'] == pytest.approx(4 / 5)
    assert s['recall'] == pytest.approx(4 / 7)
    assert [s[f'precision.{c}'] for c in 'abc'] == pytest.approx(
        [1 / 2, 1.0, 1.0])
    assert [s[f'recall.{c}'] for c in 'abc'] == pytest.approx(
        [1 / 2, 2 / 3, 1 / 2])
    none = pseudo_label_scores(confusion_counts(
        torch.full((2, 2), 255), torch.zeros(2, 2, dtype=torch.long), 3),
        ['a', 'b', 'c'])
    assert none == {'coverage': 0.0, 'recall': 0.0, 'recall.a': 0.0}
    with pytest.raises(ValueError, match='outside'):
        confusion_counts(torch.tensor([7]), torch.tensor([0]), 3)


class _Target:
    """A labelled target dataset of one 4x6 image."""

    def __init__(self, label_path):
        self.label_path = label_path
        self.metainfo = dict(classes=('a', 'b', 'c'))

    def __len__(self):
        return 1

    def get_data_info(self, idx):
        return dict(img_path='img.png', seg_map_path=self.label_path,
                    reduce_zero_label=False, seg_fields=[], label_map=None,
                    sample_idx=idx)


class _Model:
    def __init__(self, record):
        self.record = record

    def last_pseudo_labels(self):
        return self.record


def _runner(model, target, name):
    return SimpleNamespace(
        model=model, iter=0, hooks=[], logger=logging.getLogger(name),
        message_hub=MessageHub.get_instance(name),
        train_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(target=target)))


def test_hook_scores_a_step_in_the_frame_it_trained_on(tmp_path):
    gt = np.array([[0, 0, 1, 1, 2, 2],
                   [0, 0, 1, 1, 2, 2],
                   [255, 0, 1, 1, 2, 2],
                   [0, 0, 0, 0, 0, 0]], dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'gt.png'), gt)
    # the sample: rows 1-2, columns 2-5, mirrored; padded batch 3 x 5
    meta = dict(sample_idx=0, img_shape=(2, 4), crop_bbox=(1, 3, 2, 6),
                flip=True, flip_direction='horizontal')
    seen = gt[1:3, 2:6][:, ::-1]  # [[2, 2, 1, 1], [2, 2, 1, 1]]
    pseudo = torch.full((1, 3, 5), 255)
    pseudo[0, :2, :4] = torch.tensor([[2, 1, 1, 255], [0, 2, 1, 1]])
    pseudo[0, 2, :] = 0  # padding: must not count
    model = _Model(dict(labels=pseudo, metainfo=[meta]))
    hook = PseudoLabelDiagnosticsHook(interval=2)
    runner = _runner(model, _Target(str(tmp_path / 'gt.png')), 'diag_hand')
    hook.before_train(runner)
    assert np.array_equal(hook.ground_truth(meta).numpy(), seen)
    batch = dict(target_data_samples=[SegDataSample(metainfo=meta)])
    hook.after_train_iter(runner, 0, batch)
    assert 'gt_sem_seg' not in batch['target_data_samples'][0]
    hub = runner.message_hub
    assert 'train/pl_diag.coverage' not in hub.log_scalars  # window open
    model.record = None  # a step without pseudo-labels adds nothing
    runner.iter = 1
    hook.after_train_iter(runner, 1, batch)

    def score(key):
        return hub.get_scalar(f'train/pl_diag.{key}').current()

    # 7 of 8 pixels labelled, all with known truth; correct: (0,0) 2,
    # (0,1) 1... : labels 2 1 1 . / 0 2 1 1 vs truth 2 2 1 1 / 2 2 1 1
    assert score('coverage') == pytest.approx(7 / 8)
    assert score('precision') == pytest.approx(5 / 7)  # 2 1 . / . 2 1 1
    assert score('recall') == pytest.approx(5 / 8)
    assert score('precision.b') == pytest.approx(3 / 4)
    assert score('precision.c') == pytest.approx(2 / 2)
    assert score('precision.a') == pytest.approx(0.0)
    assert score('recall.b') == pytest.approx(3 / 4)
    assert score('recall.c') == pytest.approx(2 / 4)
    assert 'train/pl_diag.recall.a' not in hub.log_scalars  # no truth


def test_curve_from_logged_entries_keeps_the_last_attempt():
    entries = [dict(iter=10, loss=1.0, **{'pl_diag.coverage': 0.2}),
               dict(iter=10, loss=1.0),  # the logger without the hook
               dict(step=10, mIoU=40.0),
               dict(iter=20, **{'pl_diag.coverage': 0.3}),
               dict(iter=10, **{'pl_diag.coverage': 0.25})]  # resumed
    assert pseudo_label_curve(entries) == [
        {'iter': 10, 'pl_diag.coverage': 0.25},
        {'iter': 20, 'pl_diag.coverage': 0.3}]


def test_missing_target_labels_stop_before_training(tmp_path):
    hook = PseudoLabelDiagnosticsHook()
    runner = _runner(_Model(None), _Target(str(tmp_path / 'none.png')),
                     'diag_missing')
    with pytest.raises(FileNotFoundError,
                       match='img.png has no label file'):
        hook.before_train(runner)


# -- the methods expose what they trained on -------------------------------
MINI_MODEL = osp.join(ROOT, 'configs', '_base_', 'models', 'mini_deeplab.py')


def _build(**kw):
    base = Config.fromfile(MINI_MODEL)
    cfg = dict(segmentor=base.segmentor,
               data_preprocessor=base.data_preprocessor)
    cfg.update(kw)
    return MODELS.build(cfg)


def _batch(n=2, size=32):
    g = torch.Generator().manual_seed(0)
    src = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 7, (1, size, size), generator=g))
        src.append(s)
    tgt = [SegDataSample(metainfo=dict(sample_idx=i, img_shape=(size, size),
                                       ori_shape=(size, size)))
           for i in range(n)]
    return (torch.randn(n, 3, size, size, generator=g), src,
            torch.randn(n, 3, size, size, generator=g), tgt)


@pytest.mark.parametrize('kind', ['SelfTraining', 'DACS', 'UDASegmentor'])
def test_methods_expose_the_last_steps_pseudo_labels(kind):
    MessageHub.get_current_instance().update_info('max_iters', 10)
    kw = dict(type=kind)
    if kind == 'SelfTraining':
        kw.update(warmup_iters=0, pseudo_label=dict(type='threshold',
                                                    threshold=0.0))
    model = _build(**kw)
    inputs, src, target, tgt = _batch()
    model.forward(inputs, src, mode='loss', target_inputs=target,
                  target_data_samples=tgt)
    record = model.last_pseudo_labels()
    if kind == 'UDASegmentor':  # source-only: nothing to expose
        assert record is None
        return
    assert record['labels'].shape == (2, 32, 32)
    assert [m['sample_idx'] for m in record['metainfo']] == [0, 1]
    if kind == 'SelfTraining':  # threshold 0: every pixel labelled
        assert bool((record['labels'] != 255).all())
    else:  # DACS: teacher labels outside the pasted source pixels
        kept = record['labels'] != 255
        assert 0 < float(kept.float().mean()) < 1
    # a step without a target term clears the record
    model.forward(inputs, src, mode='loss')
    assert model.last_pseudo_labels() is None


def test_clst_exposes_its_self_training_labels():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'clst', 'mini.py'))
    model = MODELS.build(dict(
        cfg.model, warmup_ratio=0.0, pseudo_label_source='online',
        cl_target_labels='online',
        pseudo_label=dict(type='threshold', threshold=0.0)))
    inputs, src, target, tgt = _batch()
    model.forward(inputs, src, mode='loss', target_inputs=target,
                  target_data_samples=tgt)
    record = model.last_pseudo_labels()
    assert record['labels'].shape == (2, 32, 32)
    assert bool((record['labels'] != 255).all())
    assert [m['sample_idx'] for m in record['metainfo']] == [0, 1]


# -- a short mini run ------------------------------------------------------
def _train(work_dir, mini_data_dir, extra=()):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    args = [sys.executable, 'tools/train.py', 'configs/self_training/mini.py',
            '--work-dir', str(work_dir), '--cfg-options',
            'train_cfg.max_iters=30', 'param_scheduler.0.end=30',
            'train_cfg.val_interval=1000', 'trajectory_points=0', 'train_dataloader.batch_size=4',
            'default_hooks.checkpoint.interval=30',
            'default_hooks.logger.interval=10', 'model.warmup_ratio=0.0',
            'randomness.deterministic=True', *extra]
    return run_tool(args[1:], ROOT, env, timeout=600)


@pytest.mark.slow
def test_short_mini_run_logs_sane_scores_and_trains_the_same(
        tmp_path, mini_data_dir):
    on = _train(tmp_path / 'on', mini_data_dir, [
        '+default_hooks.pseudo_label_diagnostics.type='
        'PseudoLabelDiagnosticsHook'
    ])
    assert on.returncode == 0, on.stderr[-3000:]
    off = _train(tmp_path / 'off', mini_data_dir)
    assert off.returncode == 0, off.stderr[-3000:]
    logged = pseudo_label_curve(read_scalars(str(tmp_path / 'on')))
    assert [e['iter'] for e in logged] == [10, 20, 30]
    assert pseudo_label_curve(read_scalars(str(tmp_path / 'off'))) == []
    for e in logged:
        scores = {k: v for k, v in e.items() if k.startswith('pl_diag.')}
        assert all(0.0 <= v <= 1.0 for v in scores.values()), scores
        assert 0.0 < e['pl_diag.coverage'] <= 1.0
        assert 'pl_diag.precision' in e and 'pl_diag.recall.road' in e
    # the diagnostics change nothing: same weights with and without them
    a = torch.load(tmp_path / 'on' / 'iter_30.pth', map_location='cpu',
                   weights_only=True)['state_dict']
    b = torch.load(tmp_path / 'off' / 'iter_30.pth', map_location='cpu',
                   weights_only=True)['state_dict']
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_ground_truth_decodes_each_label_file_once(tmp_path):
    """Every step reads the labels of its target images: the hook decodes
    each file once per run and hands out copies of the same array."""
    import mmcv
    gt = np.arange(24, dtype=np.uint8).reshape(4, 6) % 3
    cv2.imwrite(str(tmp_path / 'gt.png'), gt)
    hook = PseudoLabelDiagnosticsHook(interval=2)
    hook.before_train(_runner(_Model(None), _Target(str(tmp_path / 'gt.png')),
                              'diag_cache'))
    meta = dict(sample_idx=0, img_shape=(4, 6))
    with mock.patch.object(mmcv, 'imfrombytes',
                           wraps=mmcv.imfrombytes) as decode:
        first = hook.ground_truth(meta)
        first[0, 0] = 99  # a copy: the next step sees the file's labels
        for _ in range(3):
            assert np.array_equal(hook.ground_truth(meta).numpy(), gt)
    assert decode.call_count == 1


@pytest.mark.parametrize('config', ['configs/self_training/mini.py',
                                    'configs/self_training_cb/gta2cs.py'])
def test_ground_truth_mapping_equals_the_pipeline_own_label_transform(
        config, mini_data_dir, tmp_path):
    """The hook's ground truth equals what mmseg's transforms would give had
    the target pipeline loaded the labels (same random draws): the mini
    pipeline (random resize 1-1.5, crop, flip) and CBST's paper-scale one
    (random resize 0.5-1.5 of 2048x1024, 512x1024 crop, flip) on a
    Cityscapes-layout image."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    target_cfg = dict(cfg.train_dataloader.dataset.target)
    if 'gta2cs' in config:
        make_cityscapes(str(tmp_path))
        convert_dataset('cityscapes', str(tmp_path))
        target_cfg['data_root'] = str(tmp_path)
    pipeline = list(target_cfg.pop('pipeline'))
    dataset = DATASETS.build(dict(target_cfg, pipeline=[]))
    with_labels = Compose(pipeline[:1] + [dict(type='LoadAnnotations')] +
                          pipeline[1:-1])
    hook = PseudoLabelDiagnosticsHook()
    hook._target, hook._load = dataset, LoadAnnotations()
    for seed in range(4):
        random.seed(seed)
        np.random.seed(seed)
        out = with_labels(dataset.get_data_info(0))
        meta = {k: out.get(k) for k in ('img_shape', 'scale_factor',
                                        'crop_bbox', 'flip',
                                        'flip_direction')}
        meta['sample_idx'] = 0
        assert np.array_equal(hook.ground_truth(meta).numpy(),
                              out['gt_seg_map']), seed


def test_config_and_suite_fragments_switch_the_hook_on(tmp_path):
    from clst_mmseg.benchmark.suite import load_suite
    cfg_file = tmp_path / 'st_diag.py'
    cfg_file.write_text(
        f"_base_ = ['{ROOT}/configs/self_training/mini.py',\n"
        f"          '{ROOT}/configs/_base_/diagnostics/pseudo_labels.py']\n"
        'default_hooks = dict(\n'
        '    pseudo_label_diagnostics={{_base_.pseudo_label_diagnostics}})\n')
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.default_hooks.pseudo_label_diagnostics.type == \
        'PseudoLabelDiagnosticsHook'
    assert cfg.default_hooks.logger.type == 'LoggerHook'  # merged, kept
    suite = tmp_path / 'suite.py'
    suite.write_text(
        f"_base_ = ['{ROOT}/configs/benchmarks/_base_/default.py',\n"
        f"          '{ROOT}/configs/benchmarks/_base_/"
        "pseudo_label_diagnostics.py']\n"
        "tasks = ['mini']\nmethods = ['self_training', 'dacs']\n"
        "seeds = [0]\noverrides = dict(train_cfg=dict(max_iters=30))\n"
        f"configs_root = '{ROOT}/configs'\n")
    runs = load_suite(str(suite), results_dir=str(tmp_path / 'r'),
                      work_dir=str(tmp_path / 'w')).runs
    for run in runs:
        assert run.overrides['+default_hooks.pseudo_label_diagnostics.type'] \
            == 'PseudoLabelDiagnosticsHook'
        assert run.overrides['train_cfg.max_iters'] == 30
