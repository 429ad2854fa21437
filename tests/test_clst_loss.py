"""CLST's centroid-contrastive loss (hand-computed values, gradients,
absent classes), projection head and segmentor."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData

import clst_mmseg  # noqa: F401
from clst_mmseg.models.losses import CentroidContrastiveLoss, batch_centroids
from clst_mmseg.models.segmentors.clst import (check_pseudo_label_cfg,
                                               sigmoid_rampup)
from conftest import ROOT
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()


def _maps():
    """Source: [1,0] (class 0), [0,1] (class 1), [1,0] (class 0).
    Target: [1,1] and [1,0] (class 0), [0,2] (class 1). One row each."""
    src = torch.tensor([[1., 0.], [0., 1.], [1., 0.]]).t().reshape(1, 2, 1, 3)
    tgt = torch.tensor([[1., 1.], [1., 0.], [0., 2.]]).t().reshape(1, 2, 1, 3)
    return src, torch.tensor([[[0, 1, 0]]]), tgt, torch.tensor([[[0, 0, 1]]])


def test_loss_equals_the_formula_by_hand():
    src, src_l, tgt, tgt_l = _maps()
    loss = CentroidContrastiveLoss(num_classes=2, feat_channels=2,
                                   temperature=0.5, loss_weight=2.0)
    out = loss(src, src_l, tgt, tgt_l)
    # target class-0 centroid: mean of [.7071,.7071] and [1,0], i.e. the
    # direction at 22.5 degrees: cos to source [1,0] = cos(22.5 deg),
    # cos to source [0,1] = sin(22.5 deg); class 1: [0,1] -> cos 0 and 1
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    l0 = -math.log(math.exp(c / 0.5) / (math.exp(c / 0.5) + math.exp(s / 0.5)))
    l1 = -math.log(math.exp(2) / (math.exp(2) + math.exp(0)))
    assert out['loss'].item() == pytest.approx(2.0 * (l0 + l1) / 2, rel=1e-6)
    assert out['anchors'].item() == 2
    assert out['pos_sim'].item() == pytest.approx((c + 1) / 2, rel=1e-6)
    assert out['neg_sim'].item() == pytest.approx((s + 0) / 2, abs=1e-6)


def test_batch_centroids_by_hand_and_bad_labels():
    src, src_l, _, _ = _maps()
    cent, present = batch_centroids(src, src_l, 3)
    assert cent.tolist() == [[1., 0.], [0., 1.], [0., 0.]]
    assert present.tolist() == [True, True, False]
    with pytest.raises(ValueError, match=r'labels must be in \[0, 2\)'):
        batch_centroids(src, torch.tensor([[[0, 1, 5]]]), 2)


def test_symmetric_loss_averages_both_directions():
    src, src_l, tgt, tgt_l = _maps()
    sym = CentroidContrastiveLoss(2, 2, temperature=0.5, symmetric=True)
    one = CentroidContrastiveLoss(2, 2, temperature=0.5)
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    # source [1,0] vs target centroids (c, s) and (0, 1); source [0,1]
    # vs (s, c)... i.e. the same similarity matrix transposed
    m = torch.tensor([[c, s], [0., 1.]]) / 0.5
    t2s = torch.nn.functional.cross_entropy(m, torch.tensor([0, 1]))
    s2t = torch.nn.functional.cross_entropy(m.t(), torch.tensor([0, 1]))
    assert one(src, src_l, tgt, tgt_l)['loss'].item() == pytest.approx(
        t2s.item(), rel=1e-6)
    assert sym(src, src_l, tgt, tgt_l)['loss'].item() == pytest.approx(
        (t2s + s2t).item() / 2, rel=1e-6)


def test_absent_classes_give_no_nan():
    src, src_l, tgt, _ = _maps()
    loss = CentroidContrastiveLoss(4, 2)
    src.requires_grad_(True)
    tgt.requires_grad_(True)
    # no target pixel labelled: exact zero with a graph, finite gradients
    out = loss(src, src_l, tgt, torch.full((1, 1, 3), 255))
    assert out['loss'].item() == 0 and out['anchors'].item() == 0
    out['loss'].backward()
    assert torch.isfinite(src.grad).all() and torch.isfinite(tgt.grad).all()
    # target class 3 has no source centroid: not an anchor; class 0 is
    out = loss(src, src_l, tgt, torch.tensor([[[3, 0, 3]]]))
    assert out['anchors'].item() == 1 and torch.isfinite(out['loss'])
    # a single source class: the softmax has one candidate -> exactly 0
    out = loss(src, torch.zeros(1, 1, 3, dtype=torch.long), tgt,
               torch.zeros(1, 1, 3, dtype=torch.long))
    assert out['loss'].item() == pytest.approx(0, abs=1e-7)


def test_smoothed_centroids_keep_absent_classes_as_negatives():
    src, src_l, tgt, tgt_l = _maps()
    loss = CentroidContrastiveLoss(2, 2, temperature=0.5,
                                   centroid_momentum=0.5)
    loss.train()
    loss(src, src_l, tgt, tgt_l)  # both classes seen once
    assert loss.src_seen.all()
    assert loss.src_centroids.tolist() == [[1., 0.], [0., 1.]]
    # next batch: source has class 0 only, target class 0 only; the stored
    # source class-1 centroid is still a negative
    src2 = torch.tensor([[0.6, 0.8]]).t().reshape(1, 2, 1, 1)
    out = loss(src2, torch.zeros(1, 1, 1, dtype=torch.long),
               torch.tensor([[1., 0.]]).t().reshape(1, 2, 1, 1),
               torch.zeros(1, 1, 1, dtype=torch.long))
    # smoothed source class 0: 0.5*[1,0] + 0.5*[.6,.8] = [.8,.4]; target
    # class 0: 0.5*(22.5 deg direction) + 0.5*[1,0]
    s0 = torch.nn.functional.normalize(torch.tensor([0.8, 0.4]), dim=0)
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    t0 = torch.nn.functional.normalize(
        torch.tensor([0.5 * c + 0.5, 0.5 * s]), dim=0)
    logits = torch.stack([t0 @ s0, t0[1]]) / 0.5
    expected = -torch.log_softmax(logits, 0)[0]
    assert out['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(loss.src_centroids[0], torch.tensor([0.8, 0.4]))


def test_loss_arguments_are_checked():
    with pytest.raises(ValueError, match='temperature'):
        CentroidContrastiveLoss(2, 2, temperature=0)
    with pytest.raises(ValueError, match='centroid_momentum'):
        CentroidContrastiveLoss(2, 2, centroid_momentum=1)


def test_projection_head_selects_its_level():
    head = MODELS.build(dict(type='ProjectionHead', in_channels=8,
                             in_index=1, channels=16, out_channels=4))
    out = head([torch.zeros(2, 3, 5, 5), torch.randn(2, 8, 5, 5)])
    assert out.shape == (2, 4, 5, 5)
    with pytest.raises(ValueError, match='has 3 channels'):
        head([torch.zeros(1, 8, 2, 2), torch.zeros(1, 3, 2, 2)])


def test_rampup_and_pseudo_label_cfg():
    assert sigmoid_rampup(4, 5, 10) == 0
    assert sigmoid_rampup(5, 5, 10) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(10, 5, 10) == pytest.approx(math.exp(-5 * 0.25))
    assert sigmoid_rampup(15, 5, 10) == 1 == sigmoid_rampup(5, 5, 0)
    assert check_pseudo_label_cfg(
        dict(type='class_balanced', portion=0.5))['max_threshold'] is None
    with pytest.raises(ValueError, match='pseudo_label.type'):
        check_pseudo_label_cfg(dict(type='entropy'))
    with pytest.raises(ValueError, match='not options'):
        check_pseudo_label_cfg(dict(type='threshold', threshold=0.9,
                                    portion=0.2))


def _model(**overrides):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/clst/mini.py'))
    cfg.model.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    return model


def _batch(n=2, hook_fields=True):
    g = torch.Generator().manual_seed(0)
    src = torch.randn(n, 3, 64, 64, generator=g)
    tgt = torch.randn(n, 3, 64, 64, generator=g)
    samples, tsamples = [], []
    for i in range(n):
        lab = torch.randint(0, 7, (1, 64, 64), generator=g)
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=lab)))
        t = SegDataSample(metainfo=dict(
            sample_idx=i, ori_shape=(64, 64), img_shape=(64, 64),
            flip=False, flip_direction=None))
        if hook_fields:
            plab = torch.randint(0, 7, (1, 64, 64), generator=g)
            t.gt_sem_seg = PixelData(data=plab)
            t.ensemble_seg = PixelData(label=plab, conf=torch.ones(1, 64, 64))
        tsamples.append(t)
    return src, samples, tgt, tsamples


def _grad_norm(module):
    return sum(float(p.grad.abs().sum()) for p in module.parameters()
               if p.grad is not None)


def test_contrastive_gradients_reach_backbone_and_projection_head():
    model = _model(warmup_iters=0, st_rampup_iters=0)
    losses = model.loss(*_batch())
    assert {'decode.loss_ce', 'st.loss_ce', 'cl.loss', 'cl.pos_sim',
            'st.kept'} <= set(losses)
    assert torch.isfinite(losses['cl.loss']) and losses['cl.loss'] > 0
    losses['cl.loss'].backward()
    assert _grad_norm(model.projection_head) > 0
    assert _grad_norm(model.segmentor.backbone) > 0
    assert _grad_norm(model.segmentor.decode_head) == 0  # not on its path
    model.zero_grad()
    model.local_iter.zero_()
    losses = model.loss(*_batch())
    losses['st.loss_ce'].backward()
    assert _grad_norm(model.segmentor.decode_head) > 0


def test_without_projection_head_centroids_use_the_classifier_input():
    model = _model(warmup_iters=0, projection_head=None,
                   contrastive_loss=dict(type='CentroidContrastiveLoss',
                                         feat_channels=64))
    losses = model.loss(*_batch())
    losses['cl.loss'].backward()
    assert model.projection_head is None
    assert _grad_norm(model.segmentor.backbone) > 0


def test_schedule_and_hook_feed():
    model = _model(cl_warmup_iters=1)  # mini: self-training from 500
    losses = model.loss(*_batch())
    assert 'st.loss_ce' not in losses and losses['cl.loss'] == 0
    assert losses['st.weight'] == 0 and losses['cl.weight'] == 0
    feed = model.pop_ensemble_feed()
    assert feed['probs'].shape == (2, 7, 16, 16) and not feed[
        'probs'].requires_grad
    assert feed['indices'] == [0, 1] and feed['input_shape'] == (64, 64)
    assert model.pop_ensemble_feed() is None
    assert model.loss(*_batch())['cl.loss'] > 0  # iteration 1


def test_missing_hook_fields_fail_clearly_and_online_sources_work():
    model = _model(warmup_iters=0)
    with pytest.raises(KeyError, match='TemporalEnsembleHook'):
        model.loss(*_batch(hook_fields=False))
    online = _model(warmup_iters=0, pseudo_label_source='online',
                    cl_target_labels='online')
    assert not online.needs_ensemble
    losses = online.loss(*_batch(hook_fields=False))
    assert torch.isfinite(losses['st.loss_ce'])
    assert torch.isfinite(losses['cl.loss'])


def test_bad_clst_arguments_fail_clearly():
    with pytest.raises(ValueError, match='cl_target_labels'):
        _model(cl_target_labels='teacher')
    with pytest.raises(ValueError, match='ensemble.momentum'):
        _model(ensemble=dict(momentum=1.0, memory_size=(4, 4)))
    with pytest.raises(ValueError, match='warmup_iters'):
        _model(warmup_iters=-1)
    with pytest.raises(ValueError, match='in_channels must be given'):
        _model(projection_head=dict(type='ProjectionHead', in_index=0))
    several = dict(in_index=[0, 1], in_channels=[32, 64],
                   input_transform='resize_concat')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/clst/mini.py'))
    cfg.model.segmentor.decode_head.update(several)
    with pytest.raises(ValueError, match=r'several levels \(\[0, 1\]\); '
                       'without a projection head'):
        _model(segmentor=cfg.model.segmentor, projection_head=None)
    with pytest.raises(ValueError, match='set projection_head.in_index'):
        _model(segmentor=cfg.model.segmentor)
    # left None, the projection reads the decode head's level
    head = _model().projection_head
    assert (head.in_index, head.in_channels) == (1, 64)
