"""Evaluate a checkpoint (mmsegmentation's ``tools/test.py`` with
clst_mmseg): prints per-class IoU, mIoU and every class subset the config's
evaluator defines (e.g. mIoU16 and mIoU13 for SYNTHIA -> Cityscapes).

Example::

    python tools/test.py configs/source_only/mini.py \
        work_dirs/source_only/mini/iter_500.pth
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction  # light: no torch


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument(
        '--out', help='directory to save the predicted label maps to')
    parser.add_argument(
        '--show-dir', help='directory to save painted predictions to')
    parser.add_argument(
        '--no-verify', action='store_true',
        help='skip the data check that runs before testing')
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
    parser.add_argument('--tta', action='store_true', help='Test time aug')
    parser.add_argument(
        '--metrics-json',
        help='also write the returned metrics (per-class IoU, mIoU, class '
        'subsets) to this JSON file; NaN becomes null')
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
    from clst_mmseg.apis import (check_fits, check_work_dir, exit_tool,
                                 load_config, one_line_errors, prepare_run,
                                 register_tool_hooks, set_tool_threads)
    from clst_mmseg.engine.hooks.val_metrics_json_hook import \
        write_metrics_json

    set_tool_threads()
    try:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'checkpoint file not found: {args.checkpoint}')
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        if args.work_dir is None:
            cfg.work_dir = osp.join(cfg.work_dir, 'test')
        prepare_run(cfg, verify=not args.no_verify, train=False)
        check_work_dir(cfg.work_dir)
    except (FileNotFoundError, ValueError, KeyError) as e:
        sys.exit(f'error: {e}')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        hook = cfg.default_hooks.visualization
        hook.draw = True
        hook.show = False
        hook.interval = 1  # every sample tested (mmseg's default: 1 in 50)
        cfg.visualizer.save_dir = args.show_dir
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True

    with one_line_errors():
        runner = Runner.from_cfg(cfg)
        register_tool_hooks(runner)
        check_fits(runner.model, args.checkpoint)  # keys, shapes, finite
        metrics = runner.test()
    if runner.rank == 0:
        means = {k: v for k, v in metrics.items()
                 if k.startswith('mIoU') or k in ('aAcc', 'mAcc')}
        print('summary: ' + ', '.join(f'{k} {v:.2f}' for k, v in
                                      means.items()))
        if args.metrics_json:
            with one_line_errors():
                write_metrics_json(metrics, args.metrics_json)
    exit_tool(0)  # closes DDP's process group (see exit_tool)


if __name__ == '__main__':
    main()
