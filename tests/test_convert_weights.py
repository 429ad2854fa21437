"""tools/convert_weights/deeplabv2_resnet101.py on synthetic state dicts
with the key names and shapes of the published DeepLab-v2 init files (the
files cannot be downloaded here): every tensor lands in the mmseg backbone
of configs/_base_/models/deeplabv2_r101.py, and the converted backbone
computes what the reference network computes."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

import clst_mmseg  # noqa: F401
from conftest import ROOT
from mmengine.config import Config
from mmseg.registry import MODELS

TOOL = osp.join(ROOT, 'tools', 'convert_weights', 'deeplabv2_resnet101.py')
spec = importlib.util.spec_from_file_location('deeplabv2_resnet101', TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def published_state_dict(prefix='Scale.', num_classes=21, seed=0):
    """Names and shapes as the reference ``ResNetMulti``/``ResNet`` of
    AdaptSegNet's model/deeplab_multi.py and DACS's model/deeplabv2.py
    define them (Bottleneck: conv1 1x1 carries the stride; downsample when
    the stride, the width or the dilation (2, 4) changes; layer5: an ASPP
    classifier with four dilated 3x3 convs on the 2048-channel layer4)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, cout, cin, k):
        sd[name + '.weight'] = torch.randn(cout, cin, k, k, generator=g) * (
            2.0 / (cin * k * k))**0.5

    def bn(name, c):
        sd[name + '.weight'] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[name + '.bias'] = 0.1 * torch.randn(c, generator=g)
        sd[name + '.running_mean'] = 0.1 * torch.randn(c, generator=g)
        sd[name + '.running_var'] = 1 + torch.rand(c, generator=g)

    conv('conv1', 64, 3, 7)
    bn('bn1', 64)
    inplanes = 64
    for i, (planes, blocks, stride, dilation) in enumerate(
            zip((64, 128, 256, 512), (3, 4, 23, 3), (1, 2, 1, 1),
                (1, 1, 2, 4)), start=1):
        for j in range(blocks):
            p = f'layer{i}.{j}'
            conv(p + '.conv1', planes, inplanes, 1)
            bn(p + '.bn1', planes)
            conv(p + '.conv2', planes, planes, 3)
            bn(p + '.bn2', planes)
            conv(p + '.conv3', planes * 4, planes, 1)
            bn(p + '.bn3', planes * 4)
            if j == 0 and (stride != 1 or inplanes != planes * 4
                           or dilation in (2, 4)):
                conv(p + '.downsample.0', planes * 4, inplanes, 1)
                bn(p + '.downsample.1', planes * 4)
            inplanes = planes * 4
    for b in range(4):
        sd[f'layer5.conv2d_list.{b}.weight'] = torch.randn(
            num_classes, 2048, 3, 3, generator=g) * 0.01
        sd[f'layer5.conv2d_list.{b}.bias'] = torch.zeros(num_classes)
    return {prefix + k: v for k, v in sd.items()}


def reference_features(sd, x):
    """layer3 and layer4 outputs of the reference network (BN with its
    running statistics), written from deeplab_multi.py's forward."""
    def bn(t, name):
        return F.batch_norm(t, sd[name + '.running_mean'],
                            sd[name + '.running_var'], sd[name + '.weight'],
                            sd[name + '.bias'], training=False, eps=1e-5)

    x = F.relu(bn(F.conv2d(x, sd['conv1.weight'], stride=2, padding=3),
                  'bn1'))
    x = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    outs = []
    for i, (blocks, stride, d) in enumerate(
            zip((3, 4, 23, 3), (1, 2, 1, 1), (1, 1, 2, 4)), start=1):
        for j in range(blocks):
            p = f'layer{i}.{j}'
            s = stride if j == 0 else 1
            out = F.relu(bn(F.conv2d(x, sd[p + '.conv1.weight'], stride=s),
                            p + '.bn1'))
            out = F.relu(bn(F.conv2d(out, sd[p + '.conv2.weight'],
                                     padding=d, dilation=d), p + '.bn2'))
            out = bn(F.conv2d(out, sd[p + '.conv3.weight']), p + '.bn3')
            if p + '.downsample.0.weight' in sd:
                x = bn(F.conv2d(x, sd[p + '.downsample.0.weight'], stride=s),
                       p + '.downsample.1')
            x = F.relu(out + x)
        if i >= 3:
            outs.append(x)
    return outs


@pytest.fixture(scope='module')
def published():
    return published_state_dict()


def test_layout_matches_the_reference_definition(published):
    plain = {k[len('Scale.'):]: tuple(v.shape) for k, v in published.items()
             if not k.startswith('Scale.layer5.')}
    assert plain == dict(tool.expected_backbone_shapes())
    # 104 convs (stem, 33 bottlenecks x 3, 4 downsamples), each with a BN
    assert sum(len(s) == 4 for s in plain.values()) == 104
    assert sum(k.endswith('.running_var') for k in plain) == 104
    assert len(plain) == 104 * 5


@pytest.mark.parametrize('prefix', ['Scale.', ''])
def test_converted_backbone_loads_and_computes_as_the_reference(
        tmp_path, published, prefix):
    sd = {prefix + k[len('Scale.'):]: v for k, v in published.items()}
    src, dst = tmp_path / 'published.pth', tmp_path / 'converted.pth'
    torch.save(sd, src)
    assert tool.main([str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['converted_from'] == 'published.pth'

    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'models', 'deeplabv2_r101.py'))
    init = cfg.segmentor.backbone.init_cfg[-1]
    assert init.type == 'PretrainedIfAvailable'
    init.checkpoint = str(dst)
    backbone = MODELS.build(cfg.segmentor.backbone)
    backbone.init_weights()
    # every tensor of the backbone came from the file, key for key
    ours = backbone.state_dict()
    assert set(ours) == set(converted['state_dict'])
    plain = {k[len(prefix):]: v for k, v in sd.items()}
    for name, value in ours.items():
        if not name.endswith('num_batches_tracked'):
            torch.testing.assert_close(value, plain[name], rtol=0, atol=0)
    # and computes the reference network's layer3 / layer4 (65 px: the
    # reference's ceil-mode max pool gives the same size as mmseg's)
    backbone.eval()
    x = torch.randn(1, 3, 65, 65, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = backbone(x)
        want = reference_features(plain, x)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_classifier_is_left_out_and_reported(published, capsys, tmp_path):
    out, skipped = tool.convert(published)
    assert skipped == sorted(f'layer5.conv2d_list.{b}.{k}' for b in range(4)
                             for k in ('weight', 'bias'))
    assert not any(k.startswith('layer5') for k in out)
    assert sum(k.endswith('num_batches_tracked') for k in out) == 104


def test_bad_files_stop_with_one_line(tmp_path, published, capsys):
    wrong = dict(published)
    wrong['Scale.layer2.0.conv1.weight'] = torch.zeros(128, 256, 3, 3)
    torch.save(wrong, tmp_path / 'wrong.pth')
    assert tool.main([str(tmp_path / 'wrong.pth'),
                      str(tmp_path / 'out.pth')]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f'error: {tmp_path}/wrong.pth: layer2.0.conv1.weight: '
                   'shape (128, 256, 3, 3), expected (128, 256, 1, 1)')
    missing = dict(published)
    del missing['Scale.layer4.2.bn3.running_var']
    torch.save(missing, tmp_path / 'missing.pth')
    assert tool.main([str(tmp_path / 'missing.pth'),
                      str(tmp_path / 'out.pth')]) == 2
    assert "missing key 'layer4.2.bn3.running_var'" in capsys.readouterr().err
    torch.save({'fc.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    assert tool.main([str(tmp_path / 'other.pth'),
                      str(tmp_path / 'out.pth')]) == 2
    assert "unexpected key 'fc.weight'" in capsys.readouterr().err
    assert not (tmp_path / 'out.pth').exists()
