#!/usr/bin/env python
"""Convert the published DeepLab-v2 ResNet-101 init weights (ImageNet +
MSCOCO, converted from Caffe's init.caffemodel) to the backbone of
configs/_base_/models/deeplabv2_r101.py (mmseg ``ResNet``, depth 101,
``style='caffe'``).

The files the reference UDA codes start from share one layout, that of
their ``model/deeplab*.py`` (``ResNet(Bottleneck, [3, 4, 23, 3])`` plus a
``layer5`` ASPP classifier):

- ``DeepLab_resnet_pretrained_init-f81d91e8.pth`` (AdaptSegNet) and
  ``DeepLab_resnet_pretrained_imagenet.pth`` (ADVENT): keys prefixed with
  ``Scale.`` (``Scale.layer1.0.conv1.weight`` ...);
- ``resnet101COCO-41f33a49.pth`` (DACS, via AdvSemiSeg): the same keys
  without the prefix.

Backbone keys keep their names (mmseg's ResNet names its stem, blocks and
downsample branches as they do); ``num_batches_tracked`` buffers, which the
old files lack, are added. The ``layer5`` classifier (a 21-class head in the
published file) is left out, as the references do for 19 classes. Every
backbone tensor is checked against the expected name and shape; anything
else stops the conversion with one line naming the key.

Usage: python tools/convert_weights/deeplabv2_resnet101.py SRC DST
"""
import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List, Tuple

#: Blocks per stage and bottleneck widths of ResNet-101.
BLOCKS = (3, 4, 23, 3)
PLANES = (64, 128, 256, 512)
EXPANSION = 4
#: Prefix of the AdaptSegNet / ADVENT files.
PREFIX = 'Scale.'
#: The ASPP classifier of the published file (not converted).
CLASSIFIER = 'layer5.'
BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var')


def expected_backbone_shapes() -> Dict[str, Tuple[int, ...]]:
    """Name -> shape of every backbone tensor of the published layout."""
    shapes: Dict[str, Tuple[int, ...]] = OrderedDict()

    def bn(name, c):
        for k in BN_KEYS:
            shapes[f'{name}.{k}'] = (c, )

    shapes['conv1.weight'] = (64, 3, 7, 7)
    bn('bn1', 64)
    inplanes = 64
    for i, (n, planes) in enumerate(zip(BLOCKS, PLANES), start=1):
        for j in range(n):
            p = f'layer{i}.{j}'
            shapes[f'{p}.conv1.weight'] = (planes, inplanes, 1, 1)
            bn(f'{p}.bn1', planes)
            shapes[f'{p}.conv2.weight'] = (planes, planes, 3, 3)
            bn(f'{p}.bn2', planes)
            shapes[f'{p}.conv3.weight'] = (planes * EXPANSION, planes, 1, 1)
            bn(f'{p}.bn3', planes * EXPANSION)
            if j == 0:
                shapes[f'{p}.downsample.0.weight'] = (planes * EXPANSION,
                                                      inplanes, 1, 1)
                bn(f'{p}.downsample.1', planes * EXPANSION)
            inplanes = planes * EXPANSION
    return shapes


def convert(state_dict: Dict) -> Tuple['OrderedDict', List[str]]:
    """Map a published state dict onto the mmseg backbone.

    Args:
        state_dict (dict): The published weights (name -> tensor).

    Returns:
        tuple: The backbone state dict (with ``num_batches_tracked``) and
        the names of the classifier tensors left out.

    Raises:
        KeyError: A backbone tensor is missing, or an unknown key.
        ValueError: A tensor whose shape is not the expected one.
    """
    import torch
    names = list(state_dict)
    prefixed = bool(names) and all(k.startswith(PREFIX) for k in names)
    plain = {(k[len(PREFIX):] if prefixed else k): v
             for k, v in state_dict.items()}
    expected = expected_backbone_shapes()
    skipped = sorted(k for k in plain if k.startswith(CLASSIFIER))
    unknown = sorted(set(plain) - set(expected) - set(skipped))
    if unknown:
        raise KeyError(f'unexpected key {unknown[0]!r} ({len(unknown)} '
                       'unknown); expected the DeepLab-v2 ResNet-101 layout '
                       f'(optionally prefixed {PREFIX!r})')
    out = OrderedDict()
    for name, shape in expected.items():
        if name not in plain:
            raise KeyError(f'missing key {name!r} (expected shape {shape})')
        value = plain[name]
        if tuple(value.shape) != shape:
            raise ValueError(f'{name}: shape {tuple(value.shape)}, expected '
                             f'{shape}')
        out[name] = value.detach().clone().float()
        if name.endswith('.running_var'):
            out[name[:-len('running_var')] + 'num_batches_tracked'] = \
                torch.zeros((), dtype=torch.long)
    return out, skipped


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('src', help='published .pth file')
    p.add_argument('dst', help='converted checkpoint to write')
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the conversion; returns the exit code."""
    import torch
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(f'error: {args.src}: no such file', file=sys.stderr)
        return 2
    from clst_mmseg.compat import CheckpointError, safe_load

    # The published files are plain tensor dicts: anything else is refused
    # (weights_only=True, whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says).
    try:
        loaded = safe_load(args.src, map_location='cpu')
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if isinstance(loaded, dict) and isinstance(loaded.get('state_dict'),
                                               dict):
        loaded = loaded['state_dict']
    try:
        state_dict, skipped = convert(loaded)
    except (KeyError, ValueError) as e:
        print(f'error: {args.src}: {e.args[0]}', file=sys.stderr)
        return 2
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(state_dict=state_dict,
             meta=dict(converted_from=osp.basename(args.src),
                       converter=osp.join('tools', 'convert_weights',
                                          osp.basename(__file__)),
                       backbone="mmseg ResNet depth=101 style='caffe'",
                       input='BGR, 0-255 minus the Caffe mean, std 1')),
        args.dst)
    print(f'wrote {args.dst}: {len(state_dict)} backbone tensors; left out '
          f'{len(skipped)} classifier tensors ({CLASSIFIER}*)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
