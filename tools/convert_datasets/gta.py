#!/usr/bin/env python
"""Convert GTA5 labels (Cityscapes label ids, DATA_ROOT/labels/*.png) to
Cityscapes trainIds: writes DATA_ROOT/labels/<name>_labelTrainIds.png.

A label whose size differs from its image's (some GTA5 frames) is resized
to the image's size, nearest neighbour, as the official loaders do when they
load the pair (clst_mmseg/datasets/convert.py says which); the converter
lists every such label.

Usage: python tools/convert_datasets/gta.py DATA_ROOT [--nproc N] [--force]
"""
import os.path as osp
import sys

# Let the tool run from a checkout without installing the package.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from clst_mmseg.datasets.convert import conversion_cli  # noqa: E402


def main(argv=None) -> int:
    """Run the converter; returns the exit code."""
    return conversion_cli('gta', argv, description=__doc__)


if __name__ == '__main__':
    sys.exit(main())
