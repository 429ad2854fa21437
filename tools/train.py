"""Train a segmentor (mmsegmentation's ``tools/train.py`` with clst_mmseg).

Example::

    python tools/train.py configs/source_only/mini.py
    python tools/train.py configs/clst/gta2cs.py --work-dir work_dirs/x --amp
    bash tools/dist_train.sh configs/source_only/mini.py 2
"""
import argparse
import os
import sys

from mmengine.config import DictAction
from mmengine.runner import Runner

import clst_mmseg  # noqa: F401  (compat layer + registration)
from clst_mmseg.apis import (close_distributed, enable_amp, load_config,
                             prepare_run)
from mmseg.registry import RUNNERS


def parse_args():
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='mixed precision: an AmpOptimWrapper per optimizer (float16 '
        'by default); on a CPU-only machine bfloat16, asked for with '
        '--cfg-options optim_wrapper.dtype=bfloat16')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the data check that runs before training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        if args.amp:
            enable_amp(cfg)
        prepare_run(cfg, verify=not args.no_verify)
    except (FileNotFoundError, ValueError, KeyError) as e:
        sys.exit(f'error: {e}')

    cfg.resume = args.resume

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
