"""DAFormerHead and the DAFormer model bases: the head's structure against
lhoyer/DAFormer's release (daformer_head.py with
configs/_base_/models/daformer_sepaspp_mitb5.py), its output, the loss paths
of the UDA segmentors (per-pixel weights), the MiT-B5 base's facts and its
missing-weights stop; slow: a short source-only training on mini (the
network under 2-process DDP: the method check of configs/daformer/mini.py,
tests/test_method_check.py)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.apis import load_config, prepare_run
from clst_mmseg.models.decode_heads.daformer_head import DAFormerHead
from clst_mmseg.models.segmentors.dacs import pixel_weighted_ce
from clst_mmseg.models.segmentors.self_training import full_res_logits
from conftest import ROOT
from mmcv.cnn import DepthwiseSeparableConvModule
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

MODELS_DIR = osp.join(ROOT, 'configs', '_base_', 'models')
B5 = osp.join(MODELS_DIR, 'daformer_mitb5.py')
MINI = osp.join(MODELS_DIR, 'mini_daformer.py')
SOURCE_ONLY_MINI = osp.join(ROOT, 'configs', 'source_only',
                            'mini_daformer.py')


def release_head_shapes(in_channels=(64, 128, 320, 512), embed=256,
                        channels=256, dilations=(1, 6, 12, 18),
                        num_classes=19):
    """Name -> shape of the release's DAFormerHead state dict with
    daformer_sepaspp_mitb5.py: an ``MLP`` (``proj``: nn.Linear) per level
    in ``embed_layers``; ``fuse_layer`` = ASPPWrapper(sep=True, pool=False,
    context_cfg=None): DepthwiseSeparableASPPModule (dilation 1: a 1x1
    ConvModule; else depthwise 3x3 + pointwise 1x1 ConvModules, BN each)
    and a 3x3 ConvModule ``bottleneck``; ``conv_seg``."""
    shapes = {}

    def bn(name, c):
        for k in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.bn.{k}'] = (c, )
        shapes[f'{name}.bn.num_batches_tracked'] = ()

    for i, c in enumerate(in_channels):
        shapes[f'embed_layers.{i}.proj.weight'] = (embed, c)
        shapes[f'embed_layers.{i}.proj.bias'] = (embed, )
    cat = embed * len(in_channels)
    for k, d in enumerate(dilations):
        p = f'fuse_layer.aspp_modules.{k}'
        if d == 1:
            shapes[f'{p}.conv.weight'] = (channels, cat, 1, 1)
            bn(p, channels)
        else:
            shapes[f'{p}.depthwise_conv.conv.weight'] = (cat, 1, 3, 3)
            bn(f'{p}.depthwise_conv', cat)
            shapes[f'{p}.pointwise_conv.conv.weight'] = (channels, cat, 1, 1)
            bn(f'{p}.pointwise_conv', channels)
    shapes['fuse_layer.bottleneck.conv.weight'] = (channels,
                                                   len(dilations) * channels,
                                                   3, 3)
    bn('fuse_layer.bottleneck', channels)
    shapes['conv_seg.weight'] = (num_classes, channels, 1, 1)
    shapes['conv_seg.bias'] = (num_classes, )
    return shapes


def _head(cfg_path=B5, **kw):
    cfg = Config.fromfile(cfg_path).segmentor.decode_head.to_dict()
    cfg.update(kw)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def test_b5_head_has_the_release_structure():
    head = _head()
    assert isinstance(head, DAFormerHead)
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == \
        release_head_shapes()
    assert head.input_transform == 'multiple_select'
    assert head.in_index == [0, 1, 2, 3] and head.channels == 256
    assert head.dropout.p == 0.1 and not head.align_corners
    # embeddings: a linear layer only (no norm, no activation)
    for emb in head.embed_layers.values():
        assert [type(m) for m in emb.modules()][1:] == [nn.Linear]
    # fusion: no image pooling; a 1x1 branch, then depthwise-separable 3x3
    # branches at dilations 6, 12, 18; BN and ReLU after every conv
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d)
                   for m in head.modules())
    aspp = head.fuse_layer.aspp_modules
    assert len(aspp) == 4 and aspp[0].conv.kernel_size == (1, 1)
    for branch, d in zip(list(aspp)[1:], (6, 12, 18)):
        assert isinstance(branch, DepthwiseSeparableConvModule)
        dw = branch.depthwise_conv.conv
        assert dw.groups == dw.in_channels == 1024
        assert dw.dilation == (d, d) and dw.padding == (d, d)
        assert branch.pointwise_conv.conv.kernel_size == (1, 1)
    convs = [m for m in head.fuse_layer.modules()
             if hasattr(m, 'conv') and hasattr(m, 'bn')]
    assert len(convs) == 1 + 3 * 2 + 1
    for m in convs:
        assert isinstance(m.bn, nn.BatchNorm2d) and m.conv.bias is None
        assert isinstance(m.activate, nn.ReLU)
    bottleneck = head.fuse_layer.bottleneck.conv
    assert bottleneck.kernel_size == (3, 3) and bottleneck.padding == (1, 1)
    assert bottleneck.groups == 1  # a plain conv, as the release's
    # the release's init: conv_seg N(0, 0.01), ConvModules Kaiming, BN 1/0
    assert head.conv_seg.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.all(head.fuse_layer.bottleneck.bn.weight == 1)


def test_plain_aspp_fusion_and_bad_arguments():
    head = _head(MINI, fusion_separable=False)
    assert not any(isinstance(m, DepthwiseSeparableConvModule)
                   for m in head.modules())
    assert [m.conv.dilation for m in head.fuse_layer.aspp_modules] == [
        (1, 1), (2, 2), (4, 4), (6, 6)]
    with pytest.raises(ValueError, match='in_index must be a sequence'):
        _head(MINI, in_index=3, in_channels=128)
    with pytest.raises(ValueError, match="input_transform must be "
                       "'multiple_select', got 'resize_concat'"):
        _head(MINI, input_transform='resize_concat')
    with pytest.raises(ValueError, match='align_corners must be False'):
        _head(MINI, align_corners=True)
    with pytest.raises(ValueError, match='fusion_dilations must be'):
        _head(MINI, fusion_dilations=())


def _features(channels=(16, 32, 80, 128), size=16, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, size // 2**i, size // 2**i, generator=g)
            for i, c in enumerate(channels)]


def test_forward_is_the_release_computation():
    """Logits at the first level's resolution, computed as the release's
    forward does: per-level linear embedding, bilinear resize to level 0,
    concatenation in level order, ASPP branches (in dilation order)
    concatenated, 3x3 bottleneck, 1x1 classifier."""
    torch.manual_seed(0)
    head = _head(MINI).eval()
    for m in head.modules():  # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    feats = _features()
    with torch.no_grad():
        out = head(feats)
    assert out.shape == (2, 7, 16, 16)

    def cbr(module, x, **kw):
        conv = module.conv
        x = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding,
                     dilation=conv.dilation, groups=conv.groups)
        bn = module.bn
        return F.relu(F.batch_norm(x, bn.running_mean, bn.running_var,
                                   bn.weight, bn.bias, eps=bn.eps))

    embedded = []
    for i, f in enumerate(feats):
        lin = head.embed_layers[str(i)].proj
        e = torch.einsum('nchw,oc->nohw', f, lin.weight) + \
            lin.bias[None, :, None, None]
        embedded.append(F.interpolate(e, size=(16, 16), mode='bilinear',
                                      align_corners=False))
    x = torch.cat(embedded, 1)
    branches = [cbr(head.fuse_layer.aspp_modules[0], x)]
    for b in list(head.fuse_layer.aspp_modules)[1:]:
        branches.append(cbr(b.pointwise_conv, cbr(b.depthwise_conv, x)))
    y = cbr(head.fuse_layer.bottleneck, torch.cat(branches, 1))
    want = F.conv2d(y, head.conv_seg.weight, head.conv_seg.bias)
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)


def _segmentor(cfg_path=MINI):
    torch.manual_seed(0)
    seg = MODELS.build(Config.fromfile(cfg_path).segmentor)
    seg.init_weights()
    return seg


def _samples(labels):
    out = []
    for lab in labels:
        s = SegDataSample(metainfo=dict(img_shape=tuple(lab.shape),
                                        pad_shape=tuple(lab.shape)))
        s.gt_sem_seg = PixelData(data=lab[None])
        out.append(s)
    return out


def test_source_loss_of_the_b5_base_counts_ignored_pixels_as_zero():
    """The release's mmseg 0.16 CrossEntropyLoss averages over all pixels
    (ignored ones count 0); the B5 base keeps that (avg_non_ignore=False),
    through the ordinary BaseDecodeHead loss."""
    head = _head(B5, in_channels=[4, 4, 4, 4], embed_dims=8,
                 channels=8).eval()  # no dropout: two equal forwards
    feats = _features((4, 4, 4, 4), size=8)
    labels = torch.randint(0, 19, (2, 32, 32))
    labels[:, :16] = 255
    losses = head.loss(feats, _samples(labels), train_cfg={})
    logits = F.interpolate(head(feats), size=(32, 32), mode='bilinear',
                           align_corners=False)
    ce = F.cross_entropy(logits, labels, ignore_index=255, reduction='none')
    torch.testing.assert_close(losses['loss_ce'], ce.mean())
    assert abs(losses['loss_ce'] - ce.sum() / (labels != 255).sum()) > 1e-3


def test_pixel_weighted_loss_path_reaches_every_parameter():
    """DACS's (and DAFormer's) per-pixel pseudo-label weight: logits from the
    segmentor's forward, the segmentor's own weighted cross-entropy. Zero
    weight gives zero gradient; a positive weight reaches every parameter
    (none unused: plain DDP, no find_unused_parameters)."""
    seg = _segmentor()
    seg.train()
    x = torch.randn(2, 3, 64, 64)
    labels = torch.randint(0, 7, (2, 64, 64))
    logits = full_res_logits(seg, x)
    assert logits.shape == (2, 7, 64, 64)
    weights = torch.zeros(2, 64, 64)
    pixel_weighted_ce(logits, labels, weights).backward()
    assert all(p.grad is None or not p.grad.any()
               for p in seg.parameters())

    seg.zero_grad()
    weights[:, :32] = 0.5
    loss = pixel_weighted_ce(full_res_logits(seg, x), labels, weights)
    loss.backward()
    unused = [n for n, p in seg.named_parameters()
              if p.grad is None or not p.grad.any()]
    assert unused == []


def test_dacs_trains_the_daformer_network():
    """The mini DAFormer network inside our DACS: teacher pseudo-labels,
    ClassMix, the pixel-weighted mixed loss."""
    base = Config.fromfile(MINI)
    model = MODELS.build(dict(type='DACS', segmentor=base.segmentor,
                              data_preprocessor=base.data_preprocessor))
    model.init_weights()
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 3, 64, 64, generator=g), torch.randn(
        2, 3, 64, 64, generator=g)
    samples = _samples(torch.randint(0, 7, (2, 64, 64), generator=g))
    losses = model.loss(x, samples, t, _samples(torch.zeros(2, 64, 64,
                                                            dtype=torch.long)))
    assert set(losses) >= {'decode.loss_ce', 'mix.loss_ce',
                           'mix.pseudo_weight'}
    total = losses['decode.loss_ce'] + losses['mix.loss_ce']
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.segmentor.parameters())


def test_b5_base_states_the_release_encoder():
    cfg = Config.fromfile(B5)
    bb = cfg.segmentor.backbone
    assert bb.type == 'MixVisionTransformer'
    assert [bb.embed_dims * h for h in bb.num_heads] == [64, 128, 320, 512]
    assert bb.num_layers == [3, 6, 40, 3] and bb.sr_ratios == [8, 4, 2, 1]
    assert bb.patch_sizes == [7, 3, 3, 3] and bb.strides == [4, 2, 2, 2]
    assert (bb.mlp_ratio, bb.qkv_bias, bb.drop_path_rate) == (4, True, 0.1)
    assert bb.norm_cfg == dict(type='LN', eps=1e-6)
    assert cfg.segmentor.decode_head.in_channels == [64, 128, 320, 512]
    assert cfg.data_preprocessor.size == (512, 512)
    assert bb.init_cfg[-1].type == 'PretrainedIfAvailable'
    assert bb.init_cfg[-1].checkpoint == 'checkpoints/mit_b5_mmseg.pth'


def test_b5_base_builds_and_outputs_at_stride_4():
    """MiT-B5 (81.4M encoder parameters) + head, without its weights file:
    the fallback initialisers of the init_cfg ran."""
    seg = _segmentor(B5).eval()
    n_enc = sum(p.numel() for p in seg.backbone.parameters())
    assert n_enc == 81_443_008  # = the published mit_b5 encoder tensors
    block = seg.backbone.layers[2][1][0]
    assert block.attn.attn.out_proj.weight.std().item() == pytest.approx(
        0.02, rel=0.1)  # TruncNormal
    assert not block.attn.attn.out_proj.bias.any()
    fc1 = block.ffn.layers[0].weight  # Kaiming fan-out: sqrt(2 / 1280)
    assert fc1.std().item() == pytest.approx((2 / 1280)**0.5, rel=0.1)
    with torch.no_grad():
        feats = seg.backbone(torch.randn(1, 3, 64, 64))
        out = seg.decode_head(feats)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 16, 16),
                                                   (128, 8, 8), (320, 4, 4),
                                                   (512, 2, 2)]
    assert out.shape == (1, 19, 16, 16) and torch.isfinite(out).all()


def test_b5_config_without_its_weights_file_stops_before_training(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'source_only',
                                   'gta2cs.py'))
    b5 = Config.fromfile(B5)
    cfg.model.segmentor = b5.segmentor
    cfg.model.data_preprocessor = b5.data_preprocessor
    with pytest.raises(FileNotFoundError) as err:
        prepare_run(cfg, verify=False)
    assert str(err.value) == (
        'model.segmentor.backbone.init_cfg.3: pretrained weights '
        'checkpoints/mit_b5_mmseg.pth not found; SegFormer\'s ImageNet-1k '
        'MiT-B5 (the release\'s pretrained/mit_b5.pth, '
        'tools/download_checkpoints.sh; NVlabs/SegFormer README, '
        '"Training"): download mit_b5.pth and run python '
        'tools/convert_weights/mit.py mit_b5.pth '
        'checkpoints/mit_b5_mmseg.pth; or set allow_random_init=True '
        '(--cfg-options allow_random_init=True) to train from random '
        'initialisation')
    assert '\n' not in str(err.value)
    cfg.allow_random_init = True
    prepare_run(cfg, verify=False)


def test_mini_base_is_randomly_initialised_and_small():
    cfg = Config.fromfile(MINI)
    assert cfg.segmentor.backbone.get("init_cfg") is None
    assert cfg.data_preprocessor.size == (64, 64)
    seg = _segmentor()
    assert 0.4e6 < sum(p.numel() for p in seg.parameters()) < 0.7e6
    cfg = load_config(SOURCE_ONLY_MINI)
    prepare_run(cfg, verify=False)  # nothing pretrained to check


@pytest.mark.slow
def test_source_only_trains_the_mini_daformer(tmp_path, mini_data_dir):
    """A few iterations of tools/train.py on the mini task: the loss falls
    and the run evaluates on target val."""
    out = subprocess.run(
        [sys.executable, 'tools/train.py', SOURCE_ONLY_MINI, '--work-dir',
         str(tmp_path), '--cfg-options', 'train_cfg.max_iters=20',
         'train_cfg.val_interval=20', 'trajectory_points=0',
         'default_hooks.logger.interval=1',
         '+val_dataloader.dataset.indices=8'],
        cwd=ROOT, text=True, capture_output=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
                 CLST_MMSEG_DATA_DIR=mini_data_dir))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    losses = [float(line.split('decode.loss_ce: ')[1].split()[0])
              for line in log.splitlines() if 'decode.loss_ce: ' in line]
    assert len(losses) == 20
    assert sum(losses[-5:]) < 0.95 * sum(losses[:5])
    assert 'mIoU' in log and 'IoU.car' in log
