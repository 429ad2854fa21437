#!/usr/bin/env python
"""Convert SegFormer's ImageNet-1k MiT weights (``mit_b0.pth`` ...
``mit_b5.pth``, the files DAFormer and MIC start from as
``pretrained/mit_b5.pth``) to mmseg 1.x's ``MixVisionTransformer``, the
encoder of configs/_base_/models/daformer_mitb5.py.

The published files hold the encoder of SegFormer's ``mix_transformer.py``
(lhoyer/DAFormer mmseg/models/backbones/mix_transformer.py has the same
definition) and its ImageNet classifier ``head``. The key mapping is that of
mmsegmentation's tools/model_converters/mit2mmseg.py:

- ``patch_embed{i}.proj`` / ``.norm`` -> ``layers.{i-1}.0.projection`` /
  ``.norm``; ``norm{i}`` -> ``layers.{i-1}.2``;
- ``block{i}.{j}.`` -> ``layers.{i-1}.1.{j}.``, in which ``attn.q`` and
  ``attn.kv`` are concatenated (q, then k and v) into
  ``attn.attn.in_proj_weight`` / ``_bias``, ``attn.proj`` ->
  ``attn.attn.out_proj``, ``attn.sr`` / ``attn.norm`` keep their names, and
  the MLP ``fc1`` / ``dwconv.dwconv`` / ``fc2`` -> ``ffn.layers.0`` / ``.1``
  / ``.4`` (the linear layers become 1x1 convs);
- ``head.*`` (the 1000-class classifier) is left out, as the release's
  non-strict load leaves it out.

Unlike mit2mmseg, every tensor is first checked against the published layout
of the chosen variant (``--arch``, the hyper-parameters of ``mit_b0`` ...
``mit_b5`` in mix_transformer.py); a missing, unknown or misshapen key stops
the conversion with one line naming it.

Usage: python tools/convert_weights/mit.py SRC DST [--arch b5]
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Tuple

#: Published MiT variants: (stage widths, blocks per stage) of ``mit_b0``
#: ... ``mit_b5``; all have heads [1, 2, 5, 8], spatial reduction
#: [8, 4, 2, 1], MLP ratio 4, q/kv biases, 7x7 then 3x3 patch embeddings.
ARCHS = {
    'b0': ((32, 64, 160, 256), (2, 2, 2, 2)),
    'b1': ((64, 128, 320, 512), (2, 2, 2, 2)),
    'b2': ((64, 128, 320, 512), (3, 4, 6, 3)),
    'b3': ((64, 128, 320, 512), (3, 4, 18, 3)),
    'b4': ((64, 128, 320, 512), (3, 8, 27, 3)),
    'b5': ((64, 128, 320, 512), (3, 6, 40, 3)),
}
SR_RATIOS = (8, 4, 2, 1)
MLP_RATIO = 4
PATCH_SIZES = (7, 3, 3, 3)
#: The ImageNet classifier of the published files (not converted).
CLASSIFIER = 'head.'


def expected_shapes(arch: str = 'b5') -> Dict[str, Tuple[int, ...]]:
    """Name -> shape of every encoder tensor of a published MiT file."""
    widths, depths = ARCHS[arch]
    shapes: Dict[str, Tuple[int, ...]] = OrderedDict()

    def linear(name, cout, cin):
        shapes[f'{name}.weight'] = (cout, cin)
        shapes[f'{name}.bias'] = (cout, )

    def norm(name, c):
        shapes[f'{name}.weight'] = (c, )
        shapes[f'{name}.bias'] = (c, )

    cin = 3
    for i, (d, n, sr, k) in enumerate(
            zip(widths, depths, SR_RATIOS, PATCH_SIZES), start=1):
        shapes[f'patch_embed{i}.proj.weight'] = (d, cin, k, k)
        shapes[f'patch_embed{i}.proj.bias'] = (d, )
        norm(f'patch_embed{i}.norm', d)
        for j in range(n):
            p = f'block{i}.{j}'
            norm(f'{p}.norm1', d)
            linear(f'{p}.attn.q', d, d)
            linear(f'{p}.attn.kv', 2 * d, d)
            linear(f'{p}.attn.proj', d, d)
            if sr > 1:
                shapes[f'{p}.attn.sr.weight'] = (d, d, sr, sr)
                shapes[f'{p}.attn.sr.bias'] = (d, )
                norm(f'{p}.attn.norm', d)
            norm(f'{p}.norm2', d)
            linear(f'{p}.mlp.fc1', MLP_RATIO * d, d)
            shapes[f'{p}.mlp.dwconv.dwconv.weight'] = (MLP_RATIO * d, 1, 3, 3)
            shapes[f'{p}.mlp.dwconv.dwconv.bias'] = (MLP_RATIO * d, )
            linear(f'{p}.mlp.fc2', d, MLP_RATIO * d)
        norm(f'norm{i}', d)
        cin = d
    return shapes


#: (published pattern, mmseg name) of the tensors renamed one to one; the
#: attention's q / kv pair is handled apart.
_RENAMES = (
    (r'patch_embed(\d)\.proj\.(weight|bias)', 'layers.{s}.0.projection.{1}'),
    (r'patch_embed(\d)\.norm\.(weight|bias)', 'layers.{s}.0.norm.{1}'),
    (r'norm(\d)\.(weight|bias)', 'layers.{s}.2.{1}'),
    (r'block(\d)\.(\d+)\.(norm1|norm2)\.(weight|bias)',
     'layers.{s}.1.{1}.{2}.{3}'),
    (r'block(\d)\.(\d+)\.attn\.proj\.(weight|bias)',
     'layers.{s}.1.{1}.attn.attn.out_proj.{2}'),
    (r'block(\d)\.(\d+)\.attn\.(sr|norm)\.(weight|bias)',
     'layers.{s}.1.{1}.attn.{2}.{3}'),
    (r'block(\d)\.(\d+)\.mlp\.fc1\.(weight|bias)',
     'layers.{s}.1.{1}.ffn.layers.0.{2}'),
    (r'block(\d)\.(\d+)\.mlp\.dwconv\.dwconv\.(weight|bias)',
     'layers.{s}.1.{1}.ffn.layers.1.{2}'),
    (r'block(\d)\.(\d+)\.mlp\.fc2\.(weight|bias)',
     'layers.{s}.1.{1}.ffn.layers.4.{2}'),
)
_QKV = re.compile(r'block(\d)\.(\d+)\.attn\.q\.(weight|bias)')


def _rename(name: str) -> str:
    for pattern, target in _RENAMES:
        m = re.fullmatch(pattern, name)
        if m:
            groups = m.groups()
            return target.format(*groups, s=int(groups[0]) - 1)
    raise KeyError(f'no mmseg name for {name!r}')


def check_layout(state_dict: Dict, arch: str = 'b5') -> List[str]:
    """Check a published state dict against the layout of ``arch``.

    Returns:
        list[str]: The classifier tensors (``head.*``), left out.

    Raises:
        KeyError: A missing or unknown key.
        ValueError: A tensor whose shape is not the expected one.
    """
    expected = expected_shapes(arch)
    skipped = sorted(k for k in state_dict if k.startswith(CLASSIFIER))
    unknown = sorted(set(state_dict) - set(expected) - set(skipped))
    if unknown:
        raise KeyError(f'unexpected key {unknown[0]!r} ({len(unknown)} '
                       f'unknown); expected the MiT-{arch.upper()} layout of '
                       "SegFormer's mix_transformer.py")
    for name, shape in expected.items():
        if name not in state_dict:
            raise KeyError(f'missing key {name!r} (expected shape {shape}); '
                           f'is the file MiT-{arch.upper()}? (--arch)')
        if tuple(state_dict[name].shape) != shape:
            raise ValueError(f'{name}: shape '
                             f'{tuple(state_dict[name].shape)}, expected '
                             f'{shape} (MiT-{arch.upper()})')
    return skipped


def convert(state_dict: Dict, arch: str = 'b5'
            ) -> Tuple['OrderedDict', List[str]]:
    """Map a published MiT state dict onto mmseg's MixVisionTransformer.

    Args:
        state_dict (dict): The published weights (name -> tensor).
        arch (str): The variant, a key of :data:`ARCHS`. Defaults to 'b5'.

    Returns:
        tuple: The mmseg state dict and the names of the classifier
        tensors left out.

    Raises:
        KeyError: A missing or unknown key.
        ValueError: A misshapen tensor.
    """
    import torch
    skipped = check_layout(state_dict, arch)
    out = OrderedDict()
    for name in expected_shapes(arch):
        value = state_dict[name]
        if '.attn.kv.' in name:
            continue  # joined to its q
        qkv = _QKV.fullmatch(name)
        if qkv:
            stage, block, kind = qkv.groups()
            kv = state_dict[name.replace('.attn.q.', '.attn.kv.')]
            new = (f'layers.{int(stage) - 1}.1.{block}.attn.attn.'
                   f'in_proj_{kind}')
            out[new] = torch.cat([value, kv], dim=0).detach().clone()
            continue
        new = _rename(name)
        if new.endswith(('ffn.layers.0.weight', 'ffn.layers.4.weight')):
            value = value.reshape(*value.shape, 1, 1)
        out[new] = value.detach().clone()
    return out, skipped


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('src', help='published .pth file (e.g. mit_b5.pth)')
    p.add_argument('dst', help='converted checkpoint to write')
    p.add_argument('--arch', choices=sorted(ARCHS), default='b5',
                   help='MiT variant of SRC (default: %(default)s)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the conversion; returns the exit code."""
    import torch
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(f'error: {args.src}: no such file', file=sys.stderr)
        return 2
    from clst_mmseg.compat import CheckpointError, safe_load

    # The published files are plain tensor dicts (weights_only=True,
    # whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says); the release also
    # accepts one under 'state_dict' or 'model'.
    try:
        loaded = safe_load(args.src, map_location='cpu')
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    for key in ('state_dict', 'model'):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    try:
        state_dict, skipped = convert(loaded, args.arch)
    except (KeyError, ValueError) as e:
        print(f'error: {args.src}: {e.args[0]}', file=sys.stderr)
        return 2
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(state_dict=state_dict,
             meta=dict(converted_from=osp.basename(args.src),
                       converter=osp.join('tools', 'convert_weights',
                                          osp.basename(__file__)),
                       backbone=f'mmseg MixVisionTransformer, MiT-'
                       f'{args.arch.upper()}',
                       input='RGB, ImageNet mean/std')),
        args.dst)
    print(f'wrote {args.dst}: {len(state_dict)} encoder tensors; left out '
          f'{len(skipped)} classifier tensors ({CLASSIFIER}*)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
