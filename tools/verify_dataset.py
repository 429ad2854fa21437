#!/usr/bin/env python
"""Check the datasets a config reads (folders, label files, label values,
image/label sizes) and that the model predicts as many classes as they
define. GTA5, SYNTHIA-RAND-CITYSCAPES and Cityscapes are also held to their
official downloads (counts, which parts or cities are missing, image size of
a sample; clst_mmseg/datasets/official_datasets.yaml); --allow-partial
accepts a deliberate subset. Prints what was counted and OK, or one line per
problem with the command that fixes it; exits with 1 on problems.

Usage: python tools/verify_dataset.py CONFIG [--sample N] [--allow-partial]
                                      [--cfg-options KEY=VALUE ...]
"""
import argparse
import os.path as osp
import sys

# Let the tool run from a checkout without installing the package.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import clst_mmseg  # noqa: E402,F401  (before mmseg: compat layer)
from mmengine.config import Config, DictAction  # noqa: E402

import clst_mmseg.datasets  # noqa: E402,F401  (register datasets)
from clst_mmseg.apis.config_checks import merge_cfg_options  # noqa: E402
from clst_mmseg.apis.custom_imports import import_custom_modules  # noqa
from clst_mmseg.datasets.verify import (DatasetVerificationError,  # noqa
                                        verify_config)


def main(argv=None) -> int:
    """Run the check; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--sample', type=int, default=None, metavar='N',
        help='check label values of N evenly spaced files per dataset '
        '(default: all)')
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='a deliberate subset of GTA5 / SYNTHIA / Cityscapes: do not '
        'hold it to the official counts and image size (tools/train.py: '
        '--cfg-options +allow_partial_data=True)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, as in tools/train.py')
    args = parser.parse_args(argv)

    cfg = Config.fromfile(args.config, import_custom_modules=False)
    try:
        merge_cfg_options(cfg, args.cfg_options)
        # from sys.path or from beside the config, as tools/train.py does
        import_custom_modules(cfg.get('custom_imports'), args.config)
    except ValueError as e:
        print(f'error: {e}')
        return 1
    try:
        notes = verify_config(cfg, max_label_checks=args.sample,
                              allow_partial=args.allow_partial or None)
    except DatasetVerificationError as e:
        print(e)
        return 1
    for line in notes:
        print(line)
    print(f'OK: {args.config}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
