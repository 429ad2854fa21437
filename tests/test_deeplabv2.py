"""DeepLabV2Head, the DeepLabV2 ResNet-101 config and PretrainedIfAvailable."""
import logging
import os.path as osp
from urllib.error import URLError

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
import clst_mmseg.models.decode_heads.deeplabv2_head  # noqa: F401
import clst_mmseg.models.pretrained_init  # noqa: F401
from clst_mmseg.compat import UnsafeCheckpointError
import mmengine.runner.checkpoint as mm_checkpoint
from clst_mmseg.models.decode_heads.deeplabv2_head import DeepLabV2Head
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

CONFIG = osp.join(osp.dirname(__file__), '..', 'configs', '_base_', 'models',
                  'deeplabv2_r101.py')


class _LogCapture(logging.Handler):
    """Collects the messages of mmengine's current logger."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        self.logger = MMLogger.get_current_instance()
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)

    def warnings(self):
        return [
            r.getMessage() for r in self.records
            if r.levelno == logging.WARNING
        ]


@pytest.fixture
def offline(monkeypatch):
    """Make every URL download fail as it does without network, even on a
    machine that has one (keeps the test fast and download-free)."""

    def no_network(url, *args, **kwargs):
        raise URLError('[Errno -2] Name or service not known')

    monkeypatch.setattr(mm_checkpoint, 'load_from_http', no_network)


# --------------------------------------------------------------------------
# head
# --------------------------------------------------------------------------
def test_head_is_sum_of_dilated_convs():
    torch.manual_seed(0)
    head = DeepLabV2Head(in_channels=6, channels=64, num_classes=5, in_index=1)
    assert not hasattr(head, 'conv_seg') and head.dropout is None
    assert not any(
        isinstance(m, (nn.BatchNorm2d, nn.ReLU)) for m in head.modules())
    feat = torch.randn(2, 6, 30, 27)
    out = head([torch.randn(2, 3, 4, 4), feat])
    expected = sum(
        F.conv2d(feat, conv.weight, conv.bias, padding=d, dilation=d)
        for conv, d in zip(head.aspp, (6, 12, 18, 24)))
    assert out.shape == (2, 5, 30, 27)
    torch.testing.assert_close(out, expected)
    assert [c.dilation for c in head.aspp] == [(d, d) for d in (6, 12, 18, 24)]
    assert all(c.bias is not None for c in head.aspp)


def test_head_first_two_branches_as_the_reference_classifier():
    """AdaptSegNet's / DACS's Classifier_Module returns inside its loop:
    the output is the dilation-6 branch plus the dilation-12 branch."""
    torch.manual_seed(0)
    head = DeepLabV2Head(in_channels=6, num_classes=5, in_index=0,
                         branch_mode='first_two')
    assert head.dilations == (6, 12) and len(head.aspp) == 2
    feat = torch.randn(1, 6, 40, 33)
    expected = sum(
        F.conv2d(feat, conv.weight, conv.bias, padding=d, dilation=d)
        for conv, d in zip(head.aspp, (6, 12)))
    torch.testing.assert_close(head([feat]), expected)
    with pytest.raises(ValueError, match="branch_mode must be one of"):
        DeepLabV2Head(in_channels=6, num_classes=5, branch_mode='two')
    with pytest.raises(ValueError, match='needs at least two dilations'):
        DeepLabV2Head(in_channels=6, num_classes=5, dilations=(6, ),
                      branch_mode='first_two')


def test_head_init_and_custom_dilations():
    head = DeepLabV2Head(in_channels=512,
                         num_classes=19,
                         in_index=0,
                         dilations=(1, 2))
    assert len(head.aspp) == 2
    w = torch.cat([c.weight.flatten() for c in head.aspp])
    assert w.mean().abs() < 1e-3
    assert w.std().item() == pytest.approx(0.01, rel=0.05)
    before = w.clone()
    head.init_weights()  # no init_cfg: keeps the reference initialisation
    torch.testing.assert_close(
        torch.cat([c.weight.flatten() for c in head.aspp]), before)


def test_head_loss_through_base_decode_head():
    head = MODELS.build(
        dict(type='DeepLabV2Head',
             in_channels=8,
             channels=None,
             num_classes=3,
             in_index=0,
             loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)))
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (
            1, 32, 32)).index_fill_(1, torch.tensor([0]), 255))
        samples.append(s)
    losses = head.loss([torch.randn(2, 8, 4, 4)], samples, dict())
    assert losses['loss_ce'].ndim == 0 and losses['loss_ce'] > 0
    losses['loss_ce'].backward()
    assert all(c.weight.grad is not None for c in head.aspp)


def test_head_rejects_multiple_select():
    with pytest.raises(ValueError, match='multiple_select'):
        DeepLabV2Head(in_channels=[4, 8],
                      in_index=[0, 1],
                      num_classes=3,
                      input_transform='multiple_select')


# --------------------------------------------------------------------------
# r101 config
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def r101():
    cfg = Config.fromfile(CONFIG)
    return MODELS.build(
        dict(type='UDASegmentor', segmentor=cfg.segmentor,
             data_preprocessor=cfg.data_preprocessor))


def test_r101_config_structure(r101):
    backbone = r101.segmentor.backbone
    assert type(backbone).__name__ == 'ResNet' and not backbone.deep_stem
    assert backbone.conv1.kernel_size == (7, 7)
    # the reference BN mode: affine frozen, batch statistics (train mode)
    assert backbone.out_indices == (2, 3) and not backbone.norm_eval
    r101.train()
    assert all(m.training for m in backbone.modules()
               if isinstance(m, nn.BatchNorm2d))
    expected = {
        'layer1': (1, 1),
        'layer2': (2, 1),
        'layer3': (1, 2),
        'layer4': (1, 4)
    }
    for name, (stride, dilation) in expected.items():
        blocks = list(getattr(backbone, name))
        # style='caffe' (the Caffe DeepLab weights): the stride sits on the
        # 1x1 conv1 of the 1st block; contract_dilation=False: every block
        # has the full dilation
        assert blocks[0].conv1.stride == (stride, stride), name
        assert blocks[0].conv2.stride == (1, 1), name
        assert all(b.conv2.dilation == (dilation, dilation)
                   for b in blocks), name
    assert [len(getattr(backbone, f'layer{i}'))
            for i in range(1, 5)] == [3, 4, 23, 3]
    assert all(not p.requires_grad for m in backbone.modules()
               if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    head = r101.segmentor.decode_head
    assert isinstance(head, DeepLabV2Head) and head.in_index == 1
    assert head.dilations == (6, 12, 18, 24) and head.num_classes == 19
    assert head.branch_mode == 'sum_all'
    assert not r101.segmentor.with_auxiliary_head
    prep = r101.data_preprocessor
    # Caffe input: BGR, 0-255 minus the Caffe mean, no std
    assert not prep.channel_conversion and prep.size == (512, 1024)
    torch.testing.assert_close(
        prep.mean.flatten(),
        torch.tensor([104.00698793, 116.66876762, 122.67891434]))
    torch.testing.assert_close(prep.std.flatten(), torch.ones(3))
    assert prep.seg_pad_val == 255 and prep.pad_val == 0
    assert r101.segmentor.test_cfg['mode'] == 'whole'


def test_r101_param_count(r101):
    n_backbone = sum(p.numel() for p in r101.segmentor.backbone.parameters())
    n_head = sum(p.numel() for p in r101.segmentor.decode_head.parameters())
    assert n_backbone == 42_500_160  # ResNet-101 without fc
    assert n_head == 4 * (2048 * 9 * 19 + 19)
    assert 43.5e6 < n_backbone + n_head < 44.5e6


def test_r101_output_stride_8(r101):
    r101.eval()
    with torch.no_grad():
        feats = r101.extract_feat(torch.randn(1, 3, 64, 128))
        logits = r101.segmentor.decode_head(feats)
    assert [f.shape[1:] for f in feats] == [(1024, 8, 16), (2048, 8, 16)]
    assert logits.shape == (1, 19, 8, 16)


def test_r101_without_weights_file_warns_with_its_source(tmp_path):
    cfg = Config.fromfile(CONFIG)
    init = cfg.segmentor.backbone.init_cfg[-1]
    assert init.checkpoint == ('checkpoints/'
                               'DeepLab_resnet_pretrained_init-f81d91e8_mmseg'
                               '.pth')
    init.checkpoint = str(tmp_path / 'absent.pth')
    model = MODELS.build(cfg.segmentor)
    with _LogCapture() as log:
        model.backbone.init_weights()
    warnings = [m for m in log.warnings() if 'PretrainedIfAvailable' in m]
    assert len(warnings) == 1 and '\n' not in warnings[0]
    assert 'absent.pth' in warnings[0]
    assert 'random initialisation' in warnings[0]
    assert 'tools/convert_weights/deeplabv2_resnet101.py' in warnings[0]
    # the Kaiming init before it in the init_cfg list still ran
    std = model.backbone.conv1.weight.std().item()
    assert abs(std - (2 / (64 * 7 * 7))**0.5) < 0.2 * std


# --------------------------------------------------------------------------
# PretrainedIfAvailable on a small module
# --------------------------------------------------------------------------
class _Net(BaseModule):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(2, 3, 1)


def test_pretrained_if_available_loads_local_file(tmp_path):
    src = _Net()
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=src.state_dict()), path)
    net = _Net(dict(type='PretrainedIfAvailable', checkpoint=str(path)))
    net.init_weights()
    torch.testing.assert_close(net.conv.weight, src.conv.weight)

    # with a prefix: the sub-module 'net.' of a bigger checkpoint
    outer = nn.Module()
    outer.net = _Net()
    torch.save(outer.state_dict(), tmp_path / 'outer.pth')
    inner = _Net(
        dict(type='PretrainedIfAvailable',
             checkpoint=str(tmp_path / 'outer.pth'),
             prefix='net'))
    inner.init_weights()
    torch.testing.assert_close(inner.conv.weight, outer.net.conv.weight)


def test_pretrained_if_available_missing_file_warns(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    net = _Net(dict(type='PretrainedIfAvailable', checkpoint=missing))
    before = net.conv.weight.detach().clone()
    with _LogCapture() as log:
        net.init_weights()
    assert any(missing in m and 'FileNotFoundError' in m
               for m in log.warnings())
    torch.testing.assert_close(net.conv.weight, before)


def test_pretrained_if_available_url_offline(offline):
    net = _Net(
        dict(type='PretrainedIfAvailable',
             checkpoint='https://example.invalid/x.pth'))
    with _LogCapture() as log:
        net.init_weights()
    assert any('https://example.invalid/x.pth' in m and 'URLError' in m
               for m in log.warnings())


class _NotAllowed:
    pass


def test_pretrained_if_available_keeps_safe_loader(tmp_path):
    path = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict={}, obj=_NotAllowed()), path)
    net = _Net(dict(type='PretrainedIfAvailable', checkpoint=str(path)))
    # refused in one line naming the file, not taken for "unavailable"
    with pytest.raises(UnsafeCheckpointError,
                       match=f'^{path}: refused by safe loading'):
        net.init_weights()
