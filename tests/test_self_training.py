"""Pure self-training (fixed threshold and the online class-balanced
selection): the pseudo-label loss, the running class thresholds on a known
confidence histogram, the portion ramp, the warm-up, and short runs of the
tools (CBST as released included)."""
import math
import os.path as osp

import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.models.segmentors.self_training import (SelfTraining,
                                                        pseudo_label_ce)
from conftest import ROOT
from test_train_e2e import _run
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

MINI_MODEL = osp.join(ROOT, 'configs', '_base_', 'models', 'mini_deeplab.py')


def _build(**kw):
    base = Config.fromfile(MINI_MODEL)
    cfg = dict(type='SelfTraining', segmentor=base.segmentor,
               data_preprocessor=base.data_preprocessor)
    cfg.update(kw)
    return MODELS.build(cfg)


def _probs(confs, labels, num_classes=7):
    """(1, C, 1, P) probabilities whose arg-max is ``labels`` with top
    probability ``confs``; the rest is spread evenly."""
    confs = torch.tensor(confs)
    labels = torch.tensor(labels)
    rest = (1 - confs) / (num_classes - 1)
    probs = rest.unsqueeze(0).repeat(num_classes, 1)
    probs[labels, torch.arange(len(labels))] = confs
    return probs.view(1, num_classes, 1, -1)


def _batch(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, size, size, generator=g)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 7, (1, size, size), generator=g))
        samples.append(s)
    target = torch.randn(n, 3, size, size, generator=g)
    return inputs, samples, target


def test_pseudo_label_ce_averages_over_labelled_pixels_only():
    logits = torch.tensor([[0., 0.], [2., 0.], [5., -5.]]).t().reshape(
        1, 2, 1, 3).requires_grad_()
    labels = torch.tensor([[[0, 1, 255]]])
    # pixel 0: ln 2; pixel 1: ln(1 + e^2) (label 1, logits 2 vs 0)
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert pseudo_label_ce(logits, labels).item() == pytest.approx(expected)
    none = pseudo_label_ce(logits, torch.full((1, 1, 3), 255))
    assert none.item() == 0.0
    none.backward()  # a graph even when nothing is selected
    assert logits.grad is not None


def test_threshold_selection():
    model = _build(pseudo_label=dict(type='threshold', threshold=0.9))
    labels = model.select(_probs([0.95, 0.6, 0.91], [0, 1, 2]))
    assert labels.flatten().tolist() == [0, 255, 2]


def test_class_balanced_running_thresholds_on_known_histogram():
    model = _build(pseudo_label=dict(type='class_balanced', portion=0.5,
                                     momentum=0.9))
    # class 0: 10 pixels at 0.91..1.00; class 1: 0.5, 0.6, 0.7, 0.8;
    # classes 2-6: never predicted
    confs = [0.91 + 0.01 * i for i in range(10)] + [0.5, 0.6, 0.7, 0.8]
    labels = model.select(_probs(confs, [0] * 10 + [1] * 4))
    # first batch: the running thresholds start at the batch quantiles,
    # rank floor(0.5 n) of each class sorted by decreasing confidence
    th = model.cb_thresholds
    assert th[0].item() == pytest.approx(0.95)
    assert th[1].item() == pytest.approx(0.6)
    assert th[2].item() == -1.0  # not seen yet (finite: checkpointable)
    kept = labels.flatten().tolist()
    assert kept[:10] == [255] * 4 + [0] * 6
    assert kept[10:] == [255, 1, 1, 1]
    # second batch: class 0 only, batch quantile 0.75 -> 0.9*0.95 + 0.1*0.75;
    # class 1 is not predicted and keeps its threshold
    model.select(_probs([0.7, 0.75, 0.8, 0.85], [0] * 4))
    assert th[0].item() == pytest.approx(0.93)
    assert th[1].item() == pytest.approx(0.6)
    assert th[2].item() == -1.0  # not seen yet (finite: checkpointable)
    # checkpointed with the model
    assert torch.equal(model.state_dict()['cb_thresholds'], th)


def test_class_balanced_cap_and_per_batch_mode():
    model = _build(pseudo_label=dict(type='class_balanced', portion=0.5,
                                     momentum=0.0, max_threshold=0.9))
    confs = [0.91 + 0.01 * i for i in range(10)]
    labels = model.select(_probs(confs, [0] * 10))
    assert (labels == 0).sum() == 10  # cap 0.9 keeps every pixel
    model.select(_probs([0.5, 0.6, 0.7, 0.8], [0] * 4))
    assert model.cb_thresholds[0].item() == pytest.approx(0.6)


def test_portion_ramps_linearly_after_warmup():
    model = _build(warmup_iters=10, pseudo_label=dict(
        type='class_balanced', portion=0.2, portion_end=0.5))
    hub = MessageHub.get_instance('test_portion_ramp')
    hub.update_info('max_iters', 110)
    for it, portion in [(0, 0.2), (10, 0.2), (60, 0.35), (110, 0.5)]:
        model.local_iter.fill_(it)
        assert model.current_portion() == pytest.approx(portion)
    fixed = _build(pseudo_label=dict(type='class_balanced', portion=0.3))
    assert fixed.current_portion() == pytest.approx(0.3)


def test_warmup_ratio_follows_the_schedule():
    model = _build(warmup_iters=7, warmup_ratio=0.25)
    hub = MessageHub.get_instance('test_warmup_ratio')
    assert model.warmup_end() == 7  # no runner: warmup_iters
    hub.update_info('max_iters', 1500)
    assert model.warmup_end() == 375
    with pytest.raises(ValueError, match='warmup_ratio'):
        _build(warmup_ratio=1.0)


def test_loss_waits_for_warmup_then_adds_target_term():
    torch.manual_seed(0)
    model = _build(warmup_iters=1, pseudo_label=dict(type='threshold',
                                                     threshold=0.0))
    model.train()
    inputs, samples, target = _batch()
    first = model.loss(inputs, samples, target, None)
    assert 'st.loss_ce' not in first and 'decode.loss_ce' in first
    second = model.loss(inputs, samples, target, None)
    assert second['st.kept'].item() == 1.0  # threshold 0: every pixel
    assert second['st.loss_ce'].item() > 0
    second['st.loss_ce'].backward()
    assert any(p.grad is not None for p in model.segmentor.parameters())
    assert int(model.local_iter) == 2
    assert model.segmentor.training  # restored after the eval-mode labels


@pytest.mark.parametrize('cfg, match', [
    (dict(type='entropy'), 'pseudo_label.type'),
    (dict(type='threshold', portion=0.2), 'not options'),
    (dict(type='threshold'), 'threshold must'),
    (dict(type='class_balanced', portion=0.0), 'portion must'),
    (dict(type='class_balanced', momentum=1.0), 'momentum must'),
])
def test_bad_selection_config(cfg, match):
    with pytest.raises(ValueError, match=match):
        _build(pseudo_label=cfg)


def test_bad_warmup():
    with pytest.raises(ValueError, match='warmup_iters'):
        _build(warmup_iters=-1)


@pytest.mark.slow
@pytest.mark.parametrize('method, extra', [
    ('self_training', []), ('self_training_cb_online', []),
    ('self_training_cb', ['model.num_rounds=2',
                          '+train_dataloader.dataset.target.indices=16'])
])
def test_train_and_test_tools(tmp_path, mini_data_dir, method, extra):
    config = f'configs/{method}/mini.py'
    options = [
        'train_cfg.max_iters=4', 'train_cfg.val_interval=1000', 'trajectory_points=0',
        'param_scheduler.0.end=4', 'train_dataloader.batch_size=4',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'model.warmup_ratio=0.5', *extra
    ]
    run = _run(['tools/train.py', config, '--work-dir', str(tmp_path),
                '--cfg-options', *options], mini_data_dir)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert 'st.loss_ce' in log  # the target term ran after the warm-up
    # the same config (tools/test.py refuses another config's checkpoint)
    out = _run(['tools/test.py', config, str(tmp_path / 'iter_4.pth'),
                '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                *options], mini_data_dir)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert any(ln.startswith('summary:') and 'mIoU' in ln
               for ln in out.stdout.splitlines())
