"""tools/convert_weights/mit.py on synthetic state dicts with the key names
and shapes of SegFormer's published ImageNet MiT files (the files cannot be
downloaded here): MiT-B5's converted tensors fill mmseg's
MixVisionTransformer of configs/_base_/models/daformer_mitb5.py exactly
(strict load, on the meta device: no 81M-parameter tensors are allocated
for the file), and a converted MiT-B0 computes what the release's
mix_transformer.py computes."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

import clst_mmseg  # noqa: F401
from conftest import ROOT
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

register_all_modules()

TOOL = osp.join(ROOT, 'tools', 'convert_weights', 'mit.py')
spec = importlib.util.spec_from_file_location('convert_mit', TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

B5_MODEL = osp.join(ROOT, 'configs', '_base_', 'models', 'daformer_mitb5.py')
#: mit_b0 / mit_b5 of lhoyer/DAFormer mmseg/models/backbones/
#: mix_transformer.py: embed_dims, depths (num_heads [1, 2, 5, 8],
#: sr_ratios [8, 4, 2, 1], mlp_ratios 4 for both)
RELEASE = dict(b0=((32, 64, 160, 256), (2, 2, 2, 2)),
               b5=((64, 128, 320, 512), (3, 6, 40, 3)))
HEADS = (1, 2, 5, 8)
SR = (8, 4, 2, 1)


def published_state_dict(arch, device='cpu', seed=0):
    """The tensors of a published ``mit_<arch>.pth``, named and shaped as
    the release's MixVisionTransformer (OverlapPatchEmbed ``proj`` conv and
    ``norm``; Block: ``norm1``, Attention ``q``, ``kv``, ``proj`` and, where
    sr_ratio > 1, ``sr`` conv and ``norm``; ``norm2``; Mlp ``fc1``,
    ``dwconv.dwconv``, ``fc2``; stage ``norm{i}``) plus the ImageNet
    classifier ``head`` of SegFormer's classification model."""
    widths, depths = RELEASE[arch]
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def t(name, *shape, scale=0.1, offset=0.0):
        if device == 'meta':
            sd[name] = torch.empty(shape, device='meta')
        else:
            sd[name] = offset + scale * torch.randn(shape, generator=g)

    def ln(name, c):
        t(f'{name}.weight', c, offset=1.0)
        t(f'{name}.bias', c)

    def linear(name, cout, cin):
        t(f'{name}.weight', cout, cin, scale=cin**-0.5)
        t(f'{name}.bias', cout)

    cin = 3
    for i, (d, n) in enumerate(zip(widths, depths), start=1):
        k = 7 if i == 1 else 3
        t(f'patch_embed{i}.proj.weight', d, cin, k, k,
          scale=(cin * k * k)**-0.5)
        t(f'patch_embed{i}.proj.bias', d)
        ln(f'patch_embed{i}.norm', d)
        for j in range(n):
            b = f'block{i}.{j}'
            ln(f'{b}.norm1', d)
            linear(f'{b}.attn.q', d, d)
            linear(f'{b}.attn.kv', 2 * d, d)
            linear(f'{b}.attn.proj', d, d)
            if SR[i - 1] > 1:
                s = SR[i - 1]
                t(f'{b}.attn.sr.weight', d, d, s, s, scale=(d * s * s)**-0.5)
                t(f'{b}.attn.sr.bias', d)
                ln(f'{b}.attn.norm', d)
            ln(f'{b}.norm2', d)
            linear(f'{b}.mlp.fc1', 4 * d, d)
            t(f'{b}.mlp.dwconv.dwconv.weight', 4 * d, 1, 3, 3, scale=1 / 3)
            t(f'{b}.mlp.dwconv.dwconv.bias', 4 * d)
            linear(f'{b}.mlp.fc2', d, 4 * d)
        ln(f'norm{i}', d)
        cin = d
    linear('head', 1000, widths[-1])
    return sd


def reference_features(sd, x, arch):
    """The four stage outputs of the release's MixVisionTransformer
    (forward_features), written from mix_transformer.py. Its LayerNorms
    inside OverlapPatchEmbed and Attention (``sr`` branch) are plain
    nn.LayerNorm (eps 1e-5); the blocks' and stages' use eps 1e-6."""
    widths, depths = RELEASE[arch]

    def ln(t, name, eps):
        return F.layer_norm(t, t.shape[-1:], sd[f'{name}.weight'],
                            sd[f'{name}.bias'], eps=eps)

    def lin(t, name):
        return F.linear(t, sd[f'{name}.weight'], sd[f'{name}.bias'])

    outs = []
    for i, (d, n) in enumerate(zip(widths, depths), start=1):
        w = sd[f'patch_embed{i}.proj.weight']
        x = F.conv2d(x, w, sd[f'patch_embed{i}.proj.bias'],
                     stride=4 if i == 1 else 2, padding=w.shape[-1] // 2)
        B, C, H, W = x.shape
        x = ln(x.flatten(2).transpose(1, 2), f'patch_embed{i}.norm', 1e-5)
        heads, sr = HEADS[i - 1], SR[i - 1]
        for j in range(n):
            b = f'block{i}.{j}'
            h = ln(x, f'{b}.norm1', 1e-6)
            q = lin(h, f'{b}.attn.q').reshape(B, -1, heads, C // heads)
            q = q.permute(0, 2, 1, 3)
            if sr > 1:
                h = h.permute(0, 2, 1).reshape(B, C, H, W)
                h = F.conv2d(h, sd[f'{b}.attn.sr.weight'],
                             sd[f'{b}.attn.sr.bias'], stride=sr)
                h = ln(h.reshape(B, C, -1).permute(0, 2, 1),
                       f'{b}.attn.norm', 1e-5)
            kv = lin(h, f'{b}.attn.kv').reshape(B, -1, 2, heads, C // heads)
            k, v = kv.permute(2, 0, 3, 1, 4)
            attn = (q @ k.transpose(-2, -1) * (C // heads)**-0.5).softmax(-1)
            a = (attn @ v).transpose(1, 2).reshape(B, -1, C)
            x = x + lin(a, f'{b}.attn.proj')
            h = lin(ln(x, f'{b}.norm2', 1e-6), f'{b}.mlp.fc1')
            h = h.transpose(1, 2).reshape(B, 4 * C, H, W)
            h = F.conv2d(h, sd[f'{b}.mlp.dwconv.dwconv.weight'],
                         sd[f'{b}.mlp.dwconv.dwconv.bias'], padding=1,
                         groups=4 * C)
            h = F.gelu(h.flatten(2).transpose(1, 2))
            x = x + lin(h, f'{b}.mlp.fc2')
        x = ln(x, f'norm{i}', 1e-6)
        x = x.reshape(B, H, W, C).permute(0, 3, 1, 2)
        outs.append(x)
    return outs


def _mmseg_mit(arch, device=None):
    """mmseg's MixVisionTransformer as daformer_mitb5.py configures it, with
    the widths and depths of ``arch``; no init_cfg."""
    cfg = Config.fromfile(B5_MODEL).segmentor.backbone.to_dict()
    cfg.pop('init_cfg')
    widths, depths = RELEASE[arch]
    cfg.update(embed_dims=widths[0], num_layers=list(depths))
    model = MODELS.build(cfg)
    return model.to(device) if device else model


def test_layout_matches_the_release_definition():
    for arch in RELEASE:
        published = published_state_dict(arch, device='meta')
        del published['head.weight'], published['head.bias']
        assert {k: tuple(v.shape) for k, v in published.items()} == \
            dict(tool.expected_shapes(arch))
    b5 = tool.expected_shapes('b5')
    assert len(b5) == 1052
    assert sum(torch.Size(s).numel() for s in b5.values()) == 81_443_008


def test_converted_b5_fills_mmsegs_mit_b5_strictly():
    """Every key and shape against mmseg's MiT-B5 (built once, then moved
    to the meta device) with strict=True; the file's tensors are meta."""
    out, skipped = tool.convert(published_state_dict('b5', device='meta'))
    assert skipped == ['head.bias', 'head.weight']
    model = _mmseg_mit('b5', device='meta')
    ours = model.state_dict()
    assert {k: tuple(v.shape) for k, v in out.items()} == \
        {k: tuple(v.shape) for k, v in ours.items()}
    assert str(model.load_state_dict(out, strict=True)) == \
        '<All keys matched successfully>'
    # q and kv of a block become one (3 x 320, 320) in-projection
    assert out['layers.2.1.39.attn.attn.in_proj_weight'].shape == (960, 320)
    assert 'layers.3.1.0.attn.sr.weight' not in out  # sr_ratio 1


def test_converted_b0_computes_as_the_release(tmp_path):
    published = published_state_dict('b0')
    src, dst = tmp_path / 'mit_b0.pth', tmp_path / 'mit_b0_mmseg.pth'
    torch.save(published, src)
    assert tool.main([str(src), str(dst), '--arch', 'b0']) == 0
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['converted_from'] == 'mit_b0.pth'
    model = _mmseg_mit('b0')
    model.load_state_dict(converted['state_dict'], strict=True)
    model.eval()
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model(x)
        want = reference_features(published, x, 'b0')
    for g, w in zip(got, want):
        assert g.shape == w.shape
        # mmseg's patch-embedding and spatial-reduction LayerNorms use the
        # blocks' eps (1e-6), the release's use 1e-5: a difference of order
        # 1e-6 relative on features of unit variance
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_the_init_cfg_of_the_b5_base_loads_the_converted_file(tmp_path):
    """PretrainedIfAvailable of daformer_mitb5.py reads the converter's
    output format (a dict with state_dict and meta)."""
    published = published_state_dict('b0')
    src, dst = tmp_path / 'mit_b0.pth', tmp_path / 'converted.pth'
    torch.save(dict(state_dict=published), src)  # wrapped files accepted
    assert tool.main([str(src), str(dst), '--arch', 'b0']) == 0
    cfg = Config.fromfile(B5_MODEL).segmentor.backbone.to_dict()
    cfg.update(embed_dims=32, num_layers=[2, 2, 2, 2])
    cfg['init_cfg'][-1]['checkpoint'] = str(dst)
    model = MODELS.build(cfg)
    model.init_weights()
    converted = torch.load(dst, weights_only=True)['state_dict']
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, converted[name], rtol=0, atol=0)


def test_bad_files_stop_with_one_line(tmp_path, capsys):
    published = published_state_dict('b0')

    def run(sd, *args):
        torch.save(sd, tmp_path / 'in.pth')
        code = tool.main([str(tmp_path / 'in.pth'),
                          str(tmp_path / 'out.pth'), *args])
        return code, capsys.readouterr().err.strip()

    wrong = dict(published)
    wrong['block2.1.attn.kv.weight'] = torch.zeros(64, 64)
    assert run(wrong, '--arch', 'b0') == (2, (
        f'error: {tmp_path}/in.pth: block2.1.attn.kv.weight: shape (64, 64), '
        'expected (128, 64) (MiT-B0)'))
    missing = dict(published)
    del missing['block4.1.mlp.fc2.bias']
    code, err = run(missing, '--arch', 'b0')
    assert code == 2 and "missing key 'block4.1.mlp.fc2.bias'" in err
    # a B0 file read as B5 (the default)
    assert run(published) == (2, (
        f'error: {tmp_path}/in.pth: patch_embed1.proj.weight: shape '
        '(32, 3, 7, 7), expected (64, 3, 7, 7) (MiT-B5)'))
    code, err = run(dict(published, pos_embed=torch.zeros(1)), '--arch',
                    'b0')
    assert code == 2 and "unexpected key 'pos_embed'" in err
    assert '\n' not in err
    assert not (tmp_path / 'out.pth').exists()
