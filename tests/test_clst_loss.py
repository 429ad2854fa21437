"""CLST's centroid-contrastive loss (hand-computed values, gradients,
absent classes), projection head and segmentor."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import PixelData

import clst_mmseg  # noqa: F401
from clst_mmseg.models.losses import CentroidContrastiveLoss, batch_centroids
from clst_mmseg.models.segmentors.clst import (check_pseudo_label_cfg,
                                               sigmoid_rampup)
from clst_mmseg.models.segmentors.self_training import (full_res_logits,
                                                        pseudo_label_ce)
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
    loss = CentroidContrastiveLoss(4, 2, memory_candidates=False)
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


def _random_batch(seed, n_cls=5, missing_src=()):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(2, 8, 6, 6, generator=g, dtype=torch.float64)
    tgt = torch.randn(2, 8, 6, 6, generator=g, dtype=torch.float64)
    src_l = torch.randint(0, n_cls, (2, 6, 6), generator=g)
    for c in missing_src:
        src_l[src_l == c] = 255
    tgt_l = torch.randint(0, n_cls, (2, 6, 6), generator=g)
    return src, src_l, tgt.requires_grad_(True), tgt_l


def _plain_info_nce_grad(src, src_l, tgt, tgt_l, n_cls, temperature,
                         constants=None):
    """Gradient on the target features of a plain InfoNCE over the batch
    centroids, built here from scratch; ``constants`` (class -> vector)
    stand in for source classes absent from the batch."""
    tgt = tgt.detach().clone().requires_grad_(True)
    s_c, s_p = batch_centroids(src, src_l, n_cls)
    t_c, t_p = batch_centroids(tgt, tgt_l, n_cls)
    cands = {c: s_c[c] for c in range(n_cls) if s_p[c]}
    cands.update(constants or {})
    order = sorted(cands)
    cand = torch.stack([cands[c] for c in order])
    anchors = [c for c in range(n_cls) if t_p[c] and c in cands]
    logits = torch.nn.functional.normalize(
        t_c[anchors], dim=1) @ torch.nn.functional.normalize(
            cand, dim=1).t() / temperature
    pos = torch.tensor([order.index(c) for c in anchors])
    torch.nn.functional.cross_entropy(logits, pos).backward()
    return tgt.grad


@pytest.mark.parametrize('memory', [False, True])
def test_gradient_equals_a_plain_info_nce_over_the_batch_centroids(memory):
    loss = CentroidContrastiveLoss(5, 8, temperature=0.2,
                                   memory_candidates=memory).double()
    for seed in range(3):  # with memory: later batches find it filled
        src, src_l, tgt, tgt_l = _random_batch(seed)
        loss(src, src_l, tgt, tgt_l)['loss'].backward()
        expected = _plain_info_nce_grad(src, src_l, tgt, tgt_l, 5, 0.2)
        assert torch.allclose(tgt.grad, expected, rtol=1e-9, atol=1e-12)
        assert tgt.grad.abs().sum() > 0


def test_memory_stands_in_for_absent_classes_and_gets_no_gradient():
    loss = CentroidContrastiveLoss(5, 8, temperature=0.2,
                                   centroid_momentum=0.5).double()
    src, src_l, tgt, tgt_l = _random_batch(0)
    loss(src, src_l, tgt, tgt_l)  # every class seen once
    first = torch.nn.functional.normalize(batch_centroids(src, src_l, 5)[0],
                                          dim=1)
    assert torch.allclose(loss.src_centroids, first)
    assert loss.src_seen.all() and loss.tgt_seen.all()
    # next batch: source classes 1 and 3 missing; the memory's class-1 and
    # class-3 centroids are constant candidates
    src, src_l, tgt, tgt_l = _random_batch(1, missing_src=(1, 3))
    memory = loss.src_centroids.clone()
    out = loss(src, src_l, tgt, tgt_l)
    out['loss'].backward()
    expected = _plain_info_nce_grad(src, src_l, tgt, tgt_l, 5, 0.2,
                                    constants={1: memory[1], 3: memory[3]})
    assert torch.allclose(tgt.grad, expected, rtol=1e-9, atol=1e-12)
    assert out['anchors'].item() == 5
    for name, buf in loss.named_buffers():
        assert not buf.requires_grad and buf.grad_fn is None, name
    assert not any(True for _ in loss.parameters())
    # the memory moved for the classes in the batch only, by momentum 0.5
    batch = torch.nn.functional.normalize(batch_centroids(src, src_l, 5)[0],
                                          dim=1)
    assert torch.allclose(loss.src_centroids[[1, 3]], memory[[1, 3]])
    assert torch.allclose(loss.src_centroids[0],
                          0.5 * memory[0] + 0.5 * batch[0])
    # without memory candidates, absent classes are simply left out
    plain = CentroidContrastiveLoss(5, 8, temperature=0.2,
                                    memory_candidates=False).double()
    tgt.grad = None
    plain(src, src_l, tgt, tgt_l)['loss'].backward()
    assert torch.allclose(tgt.grad,
                          _plain_info_nce_grad(src, src_l, tgt, tgt_l, 5,
                                               0.2), rtol=1e-9, atol=1e-12)


def test_class_distances_from_the_memory():
    loss = CentroidContrastiveLoss(3, 2)
    src = torch.tensor([[1., 0.], [0., 1.]]).t().reshape(1, 2, 1, 2)
    tgt = torch.tensor([[1., 1.], [0., 1.]]).t().reshape(1, 2, 1, 2)
    loss(src, torch.tensor([[[0, 1]]]), tgt, torch.tensor([[[0, 0]]]))
    dist = loss.class_distances()
    # class 0: source [1, 0], target mean of 45 and 90 degrees
    t0 = torch.tensor([0.5 ** 0.5, 1 + 0.5 ** 0.5])
    assert dist[0].item() == pytest.approx(
        1 - (t0[0] / t0.norm()).item(), rel=1e-6)
    assert torch.isnan(dist[1]) and torch.isnan(dist[2])  # not in both
    loss.eval()  # no memory update outside training
    loss(src, torch.tensor([[[0, 1]]]), tgt, torch.tensor([[[1, 1]]]))
    assert torch.isnan(loss.class_distances()[1])


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
    model = _model(warmup_ratio=None)
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
    model = _model(warmup_ratio=None, projection_head=None,
                   contrastive_loss=dict(type='CentroidContrastiveLoss',
                                         feat_channels=64))
    losses = model.loss(*_batch())
    losses['cl.loss'].backward()
    assert model.projection_head is None
    assert _grad_norm(model.segmentor.backbone) > 0


def test_schedule_and_hook_feed():
    model = _model(warmup_ratio=None, warmup_iters=1)
    losses = model.loss(*_batch())
    assert 'st.loss_ce' not in losses and losses['cl.loss'] == 0
    assert losses['st.weight'] == 0 and losses['cl.weight'] == 0
    feed = model.pop_ensemble_feed()
    assert feed['probs'].shape == (2, 7, 16, 16) and not feed[
        'probs'].requires_grad
    assert feed['indices'] == [0, 1] and feed['input_shape'] == (64, 64)
    assert model.pop_ensemble_feed() is None
    assert model.wants_ensemble_labels()  # iteration 1
    losses = model.loss(*_batch())  # iteration 1: both terms
    assert losses['cl.loss'] > 0 and losses['st.loss_ce'] > 0


def _self_training(**overrides):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/self_training/mini.py'))
    cfg.model.update(overrides)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('max_iters,start', [(1500, 375), (30, 8), (2, 0)])
def test_warmup_ratio_is_shared_with_self_training(max_iters, start):
    hub = MessageHub.get_instance(f'clst_warmup_{max_iters}')
    hub.update_info('max_iters', max_iters)
    clst, st = _model(), _self_training()  # both configs: ratio 0.25
    assert clst.warmup_end() == st.warmup_end() == start
    assert clst.warmups() == {'self-training': start,
                              'contrastive term': start}
    assert st.warmups() == {'self-training': start}
    clst.local_iter.fill_(max(start - 1, 0))
    assert clst.wants_ensemble_labels() == (start == 0)
    clst.local_iter.fill_(start)
    assert clst.wants_ensemble_labels()
    assert clst.st_factor(start) == 1.0 and clst.cl_factor(start) == 0.1
    # only active terms have a warm-up; a ramp-up is a ratio too
    assert _model(cl_weight=0.0).warmups() == {'self-training': start}
    ramped = _model(rampup_ratio=0.1)
    assert ramped.rampup_length() == round(0.1 * max_iters)
    if ramped.rampup_length():
        assert ramped.st_factor(start) == pytest.approx(math.exp(-5))


def test_self_training_term_is_self_trainings_loss():
    model = _model(warmup_ratio=None, cl_weight=0.0, target_augment=None)
    src, samples, tgt, tsamples = _batch()
    losses = model.loss(src, samples, tgt, tsamples)
    seg = model.segmentor
    with torch.no_grad():
        logits = full_res_logits(seg, tgt)
    labels = torch.cat([t.gt_sem_seg.data for t in tsamples]).long()
    assert losses['st.loss_ce'].item() == pytest.approx(
        pseudo_label_ce(logits, labels).item(), rel=1e-5)


def test_class_distances_are_logged_per_class_name():
    hub = MessageHub.get_instance('clst_dist_names')
    names = ('road', 'traffic light', 'b', 'c', 'd', 'e', 'f')
    hub.update_info('dataset_meta', dict(classes=names))
    model = _model(warmup_ratio=None)
    losses = model.loss(*_batch())
    dist = model.contrastive_loss.class_distances()
    keys = {k for k in losses if k.startswith('cl.dist.')}
    assert 'cl.dist.traffic_light' in keys and len(keys) == int(
        torch.isfinite(dist).sum()) > 0
    assert losses['cl.dist.road'].item() == pytest.approx(dist[0].item())
    hub.update_info('dataset_meta', None)
    assert 'cl.dist.0' in model.loss(*_batch())


def test_missing_hook_fields_fail_clearly_and_online_sources_work():
    model = _model(warmup_ratio=None)
    with pytest.raises(KeyError, match='TemporalEnsembleHook'):
        model.loss(*_batch(hook_fields=False))
    online = _model(warmup_ratio=None, pseudo_label_source='online',
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
    with pytest.raises(ValueError, match=r'warmup_ratio must be in \[0, 1\)'):
        _model(warmup_ratio=1.0)
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
