"""Train a segmentor (mmsegmentation's ``tools/train.py`` with clst_mmseg).

Example::

    python tools/train.py configs/source_only/mini.py
    python tools/train.py configs/clst/gta2cs.py --work-dir work_dirs/x --amp
    bash tools/dist_train.sh configs/source_only/mini.py 2
"""
import argparse
import os
import sys

from mmengine.config import DictAction  # light: no torch


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
        '--cfg-options +optim_wrapper.dtype=bfloat16')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the data check that runs before training')
    parser.add_argument(
        '--val-metrics-dir',
        help='write the metrics of every validation (per-class IoU, mIoU, '
        'class subsets; NaN becomes null) to DIR/iter_<N>.json')
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
    # torch, mmseg and clst_mmseg's registration only after the arguments
    # parsed (--help, bad arguments: no 3-second import)
    from mmengine.runner import Runner

    import clst_mmseg
    clst_mmseg.register_all_modules()
    from clst_mmseg.apis import (apply_resume, check_work_dir,
                                 config_amp_error, enable_amp, exit_tool,
                                 load_config, one_line_errors, prepare_run,
                                 register_tool_hooks, set_tool_threads)
    from clst_mmseg.engine.hooks import ValMetricsJSONHook
    from clst_mmseg.engine.hooks.non_finite_check_hook import \
        ensure_non_finite_check
    from mmseg.registry import RUNNERS

    set_tool_threads()
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        if args.amp:
            enable_amp(cfg)
        prepare_run(cfg, verify=not args.no_verify)
        check_work_dir(cfg.work_dir)
    except (FileNotFoundError, ValueError, KeyError) as e:
        sys.exit(f'error: {e}')

    if config_amp_error(cfg.optim_wrapper):
        sys.exit(f'error: {config_amp_error(cfg.optim_wrapper)}')
    with one_line_errors():  # a foreign (unsafe) checkpoint stops it
        apply_resume(cfg, args.resume)  # the newest one in the work dir

    with one_line_errors():
        if 'runner_type' not in cfg:
            runner = Runner.from_cfg(cfg)
        else:
            runner = RUNNERS.build(cfg)
        register_tool_hooks(runner)
        ensure_non_finite_check(runner)
        if args.val_metrics_dir:
            runner.register_hook(ValMetricsJSONHook(args.val_metrics_dir))
        runner.train()
    exit_tool(0)  # closes DDP's process group (see exit_tool)


if __name__ == '__main__':
    main()
