#!/usr/bin/env python
"""Convert Cityscapes gtFine label ids to trainIds: writes
<name>_gtFine_labelTrainIds.png next to every <name>_gtFine_labelIds.png
under DATA_ROOT/gtFine (the files mmseg's CityscapesDataset reads).

Usage: python tools/convert_datasets/cityscapes.py DATA_ROOT [--nproc N] [--force]
"""
import os.path as osp
import sys

# Let the tool run from a checkout without installing the package.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from clst_mmseg.datasets.convert import conversion_cli  # noqa: E402


def main(argv=None) -> int:
    """Run the converter; returns the exit code."""
    return conversion_cli('cityscapes', argv, description=__doc__)


if __name__ == '__main__':
    sys.exit(main())
