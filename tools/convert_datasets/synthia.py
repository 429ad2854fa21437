#!/usr/bin/env python
"""Convert SYNTHIA-RAND-CITYSCAPES labels (16-bit, class id in the R channel,
DATA_ROOT/GT/LABELS/*.png) to Cityscapes trainIds with the table
clst_mmseg/datasets/synthia_label_map.csv: writes
DATA_ROOT/GT/LABELS/<name>_labelTrainIds.png (terrain, truck, train -> 255).

Usage: python tools/convert_datasets/synthia.py DATA_ROOT [--nproc N] [--force]
"""
import os.path as osp
import sys

# Let the tool run from a checkout without installing the package.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from clst_mmseg.datasets.convert import conversion_cli  # noqa: E402


def main(argv=None) -> int:
    """Run the converter; returns the exit code."""
    return conversion_cli('synthia', argv, description=__doc__)


if __name__ == '__main__':
    sys.exit(main())
