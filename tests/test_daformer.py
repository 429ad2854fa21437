"""DAFormer and MIC training: the thing-class feature distance, the
pseudo-label crop margins, MIC's block masking and masked term, the EMA
rate, the schedule (warm-up then poly) and the head's learning rate as the
configs resolve them; CLST's classifier-input feature; short runs of the
tools (slow). Resume equivalence (student, teacher, step, optimizer) is the
method check's for every method (test_method_check.py); a SIGKILL and
--resume of DAFormer, test_daformer_ddp.py's."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from clst_mmseg.models.losses.feature_distance import (
    ImageNetFeatureDistance, downscale_label_ratio, masked_feature_distance)
from clst_mmseg.models.segmentors.dacs import pixel_weighted_ce
from clst_mmseg.models.segmentors.self_training import full_res_logits
from clst_mmseg.models.utils.classmix import class_mix_masks
from clst_mmseg.models.utils.head_features import capture_classifier_input
from clst_mmseg.models.utils.masking import block_mask, mask_image
from conftest import ROOT
from test_train_e2e import _run as _run_tool

register_all_modules()


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def _model(path='configs/daformer/mini.py', **kw):
    cfg = _cfg(path).model.to_dict()
    cfg.update(kw)
    return MODELS.build(cfg)


def _batch(n=2, size=64, classes=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, size, size, generator=g)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, classes, (1, size, size), generator=g))
        samples.append(s)
    return inputs, samples, torch.randn(n, 3, size, size, generator=g)


# feature distance ----------------------------------------------------------


def test_downscale_label_ratio_keeps_majority_cells_only():
    labels = torch.tensor([[[1, 1, 2, 2],
                            [1, 1, 2, 3],
                            [255, 255, 0, 0],
                            [255, 4, 0, 0]]])
    out = downscale_label_ratio(labels, 2, 0.75, num_classes=5)
    # 4/4 of class 1; 3/4 of class 2 (>= 0.75); 3/4 ignore; 4/4 of class 0
    assert out.tolist() == [[[1, 2], [255, 0]]]
    out = downscale_label_ratio(labels, 2, 0.8, num_classes=5)
    assert out.tolist() == [[[1, 255], [255, 0]]]
    with pytest.raises(ValueError, match='not a whole number of 3x3 cells'):
        downscale_label_ratio(labels, 3, 0.75, num_classes=5)


def test_masked_feature_distance_on_hand_case():
    feat = torch.zeros(1, 2, 1, 2, requires_grad=True)
    ref = torch.tensor([[[[3., 0.]], [[4., 1.]]]])  # distances 5 and 1
    assert masked_feature_distance(feat, ref).item() == pytest.approx(3.0)
    mask = torch.tensor([[[True, False]]])
    assert masked_feature_distance(feat, ref, mask).item() == \
        pytest.approx(5.0)
    empty = masked_feature_distance(feat, ref, torch.zeros_like(mask))
    assert empty.item() == 0.0  # not NaN (the release's mean of nothing)
    empty.backward()
    assert torch.equal(feat.grad, torch.zeros_like(feat))


def _pretrained_deeplab(tmp_path):
    """A mini DeepLab segmentor whose backbone loads a weights file."""
    seg_cfg = _cfg('configs/_base_/models/mini_deeplab.py').segmentor
    donor = MODELS.build(seg_cfg)
    path = str(tmp_path / 'imagenet.pth')
    torch.save(donor.backbone.state_dict(), path)
    seg_cfg.backbone.init_cfg = dict(type='Pretrained', checkpoint=path)
    return MODELS.build(seg_cfg), donor


def test_feature_distance_counts_thing_cells_only(tmp_path):
    seg, donor = _pretrained_deeplab(tmp_path)
    fd = ImageNetFeatureDistance(seg, classes=[6], weight=0.5,
                                 min_ratio=0.75, num_classes=7)
    fd.init_weights()
    for (k, v), w in zip(fd.backbone.state_dict().items(),
                         donor.backbone.state_dict().values()):
        assert torch.equal(v, w), k  # the ImageNet (here: donor) weights
    assert not any(p.requires_grad for p in fd.parameters())
    fd.train()
    assert not fd.training and not fd.backbone.training
    x = torch.randn(2, 3, 64, 64)
    ref = fd.reference_features(x)  # stride 4 on 64x64 inputs: 16x16
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    labels[:, :32, :32] = 6  # the thing class: the top-left quarter
    feat = ref.clone()
    feat[..., 8:, :] += 1.0  # moved on the stuff cells only
    out = fd(x, [None, feat], labels)
    assert float(out['fd.loss']) == 0.0
    assert float(out['fd.cells']) == pytest.approx(0.25)
    feat[..., :8, :8] += 2.0  # now on the thing cells: distance 2 sqrt(C)
    out = fd(x, [None, feat], labels)
    c = feat.shape[1]
    assert float(out['fd.loss']) == pytest.approx(0.5 * 2 * math.sqrt(c),
                                                  rel=1e-5)


def test_feature_distance_needs_a_pretrained_backbone():
    with pytest.raises(ValueError, match='DAFormer: the ImageNet feature '
                       'distance needs a pretrained backbone'):
        _model(fd_weight=0.005)
    m = _model()  # the CPU configs: off
    assert m.feature_distance is None


def test_daformer_adds_the_feature_distance_to_the_source_loss(tmp_path):
    seg, donor = _pretrained_deeplab(tmp_path)
    cfg = _cfg('configs/daformer_deeplab/mini.py').model.to_dict()
    cfg['segmentor']['backbone']['init_cfg'] = seg.backbone.init_cfg
    cfg.update(fd_weight=0.005)
    model = MODELS.build(cfg)
    model.init_weights()  # what the runner does: the frozen encoder too
    fd_state = model.feature_distance.backbone.state_dict()
    for k, v in donor.backbone.state_dict().items():
        assert torch.equal(fd_state[k], v), k
    inputs, samples, target = _batch()
    losses = model.loss(inputs, samples, target)
    # the student starts from the same weights: no distance yet
    assert float(losses['fd.loss']) == pytest.approx(0.0, abs=1e-6)
    assert 'fd.cells' in losses and 'mix.loss_ce' in losses


# pseudo-label crop margins -------------------------------------------------


def test_crop_margins_have_no_pseudo_label_weight(monkeypatch):
    model = _model(pseudo_ignore_top=3, pseudo_ignore_bottom=5)
    got = {}
    monkeypatch.setattr(model, 'target_terms',
                        lambda *a: got.update(weights=a[-1]) or {})
    inputs, samples, target = _batch()
    losses = model.loss(inputs, samples, target)
    w = got['weights']
    assert w.shape == (2, 64, 64)
    assert torch.all(w[:, :3] == 0) and torch.all(w[:, -5:] == 0)
    inside = w[:, 3:-5]
    assert torch.all(inside == losses['mix.pseudo_weight'])
    # DACS itself has none
    assert _model().valid_pseudo_region(torch.zeros(1, 4, 4)) is None


def test_margin_pixels_are_not_recorded_as_pseudo_labels():
    model = _model(pseudo_ignore_top=3, pseudo_ignore_bottom=5)
    inputs, samples, target = _batch()
    tsamples = [SegDataSample(metainfo=dict(sample_idx=i)) for i in range(2)]
    model.loss(inputs, samples, target, tsamples)
    rec = model.last_pseudo_labels()['labels']
    assert torch.all(rec[:, :3] == 255) and torch.all(rec[:, -5:] == 255)


def test_batch_class_mix_candidates_as_released():
    labels = torch.tensor([[[0, 0], [0, 0]], [[1, 2], [3, 255]]])
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        masks = class_mix_masks(labels, generator=g, candidates='batch',
                                draw_ignore=True)
        # 5 values in the batch (0, 1, 2, 3, 255): 3 drawn per image;
        # image 0 pastes all of its pixels or none
        assert masks[0].all() or not masks[0].any()
    with pytest.raises(ValueError, match="candidates must be 'image' or "
                       "'batch'"):
        class_mix_masks(labels, candidates='all')


# EMA, schedule, learning rates --------------------------------------------


@pytest.mark.parametrize('path, alpha', [('configs/daformer/gta2cs.py',
                                          0.999),
                                         ('configs/mic/gta2cs.py', 0.999),
                                         ('configs/daformer/mini.py', 0.99)])
def test_teacher_alpha_of_the_configs(path, alpha):
    assert _cfg(path).model.alpha == alpha
    model = _model('configs/daformer/mini.py', alpha=alpha)
    for step, want in ((0, 0.0), (1, 0.5), (9, 0.9), (5000, alpha)):
        model.teacher.step.fill_(step)
        assert model.teacher.current_alpha() == pytest.approx(want)


def _lrs(cfg, steps):
    """The learning rate of the first parameter group at each step, from
    the config's optimizer and schedulers (what ParamSchedulerHook does)."""
    from mmengine.registry import PARAM_SCHEDULERS
    net = torch.nn.Linear(1, 1)
    wrapper = build_optim_wrapper(net, cfg.optim_wrapper)
    scheds = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))
              for s in cfg.param_scheduler]
    out = {}
    for t in range(max(steps) + 1):
        if t in steps:
            out[t] = wrapper.optimizer.param_groups[0]['lr']
        for s in scheds:
            s.step()
    return out


def test_warmup_then_poly_matches_mmcv_rates():
    cfg = _cfg('configs/daformer/gta2cs.py')
    cfg.param_scheduler[0]['end'] = 4001  # a shorter poly: fewer steps
    steps = [0, 1, 750, 1499, 1500, 1501, 2000, 3999]
    lrs = _lrs(cfg, steps)

    def mmcv(t):  # poly10warm.py as mmcv computes it, over 4000 iters
        regular = 6e-5 * (1 - t / 4000)**1.0
        if t >= 1500:
            return regular
        k = (1 - t / 1500) * (1 - 1e-6)
        return regular * (1 - k)

    for t in steps:
        assert lrs[t] == pytest.approx(mmcv(t), rel=1e-6, abs=1e-15), t
    assert cfg.param_scheduler[0]['type'] == 'PolyLR'  # .0.end = length


def test_head_lr_x10_and_no_decay_on_norms():
    cfg = _cfg('configs/daformer/mini.py')
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr = cfg.optim_wrapper.optimizer.lr
    names = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            name = names[id(p)]
            if not name.startswith('segmentor.'):
                continue
            seen.add(name)
            if '.decode_head.' in name:
                assert group['lr'] == pytest.approx(10 * lr), name
            else:
                assert group['lr'] == pytest.approx(lr), name
            if 'backbone' in name and ('norm' in name or
                                       name.split('.')[4] == '2'):
                assert group['weight_decay'] == 0, name
            elif 'backbone' in name and name.endswith('.weight') and \
                    'projection' in name:
                assert group['weight_decay'] == pytest.approx(0.01), name
    assert 'segmentor.backbone.layers.0.2.weight' in seen  # stage norm


# MIC -----------------------------------------------------------------------


def test_block_mask_ratio_and_blocks():
    torch.manual_seed(0)
    m = block_mask(64, 32, 48, ratio=0.7, block_size=8)
    assert m.shape == (64, 1, 32, 48)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert float(m.mean()) == pytest.approx(0.3, abs=0.03)
    blocks = m.view(64, 1, 4, 8, 6, 8)  # constant inside each 8x8 block
    assert torch.equal(blocks.amax((3, 5)), blocks.amin((3, 5)))
    x = torch.ones(2, 3, 16, 16)
    assert float(mask_image(x, 0.0, 4).mean()) == 1.0
    torch.manual_seed(1)
    y = mask_image(x, 0.7, 4)
    assert torch.equal(y[:, 0], y[:, 1])  # one mask for all channels
    with pytest.raises(ValueError, match='ratio must be in'):
        block_mask(1, 4, 4, 1.5, 2)


def test_mic_configs_mask_as_released():
    for path, block in (('configs/mic/gta2cs.py', 32),
                        ('configs/mic/mini.py', 4)):
        m = _cfg(path).model
        assert (m.type, m.mask_ratio, m.mask_block_size,
                m.mask_loss_weight) == ('MIC', 0.7, block, 1.0)


def test_mic_masked_term_uses_the_teachers_labels_on_the_clean_target():
    model = _model('configs/mic/mini.py', mask_ratio=0.0, mask_augment=None,
                   mix_augment=None)
    inputs, samples, target = _batch()
    torch.manual_seed(0)
    losses = model.loss(inputs, samples, target)
    labels, weight = model.pseudo_labels(target)  # the teacher, unchanged
    want = pixel_weighted_ce(full_res_logits(model.segmentor, target),
                             labels, weight.expand(labels.shape))
    assert float(losses['masked.loss_ce']) == pytest.approx(float(want),
                                                            rel=1e-5)
    assert {'mix.loss_ce', 'mix.pseudo_weight'} <= set(losses)


# CLST's centroid feature on the DAFormer stack -----------------------------


def test_clst_daformer_takes_the_classifier_input():
    model = _model('configs/clst_daformer/mini.py')
    head = model.segmentor.decode_head
    assert model.projection_head.in_channels == head.channels
    feats = model.segmentor.extract_feat(torch.randn(2, 3, 64, 64))
    with capture_classifier_input(head) as got:
        logits = head(feats)
    assert len(got) == 1
    assert got[0].shape == (2, head.channels, *logits.shape[-2:])
    assert got[0].requires_grad


# the tools (slow) ----------------------------------------------------------

FAST = [
    'train_cfg.max_iters=6', 'train_cfg.val_interval=1000',
    'trajectory_points=0', 'param_scheduler.0.end=7',
    'param_scheduler.1.end=3', 'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=5',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=4',
    'randomness.seed=3'
]


def _run(args, mini_data_dir):
    return _run_tool(args, mini_data_dir, timeout=600)


def _train(work_dir, mini_data_dir, config, extra=()):
    args = ['tools/train.py', str(config), '--work-dir', str(work_dir),
            '--cfg-options', *FAST, *extra]
    return _run(args, mini_data_dir)


@pytest.mark.slow
@pytest.mark.parametrize('method, logged', [
    ('daformer', 'mix.loss_ce'), ('mic', 'masked.loss_ce'),
    ('clst_daformer', 'cl.weight'), ('daformer_deeplab', 'mix.loss_ce')])
def test_train_and_test_tools(tmp_path, mini_data_dir, method, logged):
    config = f'configs/{method}/mini.py'
    run = _train(tmp_path, mini_data_dir, config, extra=[
        'train_cfg.max_iters=4', 'param_scheduler.0.end=5'])
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert logged in log
    out = _run(['tools/test.py', config, str(tmp_path / 'iter_4.pth'),
                '--work-dir', str(tmp_path / 'test')], mini_data_dir)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert any(ln.startswith('summary:') and 'mIoU' in ln
               for ln in out.stdout.splitlines())


