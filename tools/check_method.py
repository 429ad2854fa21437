"""Check a UDA method's config against the method contract
(docs/adding_a_method.md): one line per check, ✓ or ✗ and why; a failed
check adds a line saying what to add.

On the CPU, with a few iterations of the config's own task (its model, data,
hooks and schedule, the schedule scaled to the short run, a batch of 2 and
a few validation and target images):

- config: loads, passes the project's config checks (values, model
  arguments, pretrained weights files) and the data verification;
- determinism: two runs with one seed agree (weights, buffers, optimizer,
  hooks, generators, validation metrics);
- resume: a run stopped at iteration k and resumed equals the uninterrupted
  one at the end;
- checkpoint: every piece of state that changes during training (model
  buffers and attributes, hook state, generators) is restored from the
  checkpoint; what is not is named;
- pseudo-labels: the pseudo-label diagnostics score what the method
  records, or it records none;
- ddp: two processes (gloo) train with the config's hooks and validate;
  weights, optimizer and the method's hook state end identical on both;
- record: one short run executed by the benchmark (tools/train.py in a
  subprocess) writes a valid result record.

A paper-scale config runs as it is, on the CPU: its network at its crops
(DeepLabV2 ResNet-101: tens of seconds per iteration) on its data, which
must be on disk with its pretrained weights (or add
``--cfg-options allow_random_init=True``).

Examples::

    python tools/check_method.py examples/fda/mini.py
    python tools/check_method.py configs/clst/mini.py --no-ddp
    python tools/check_method.py configs/dacs/gta2cs.py --val-images 2 \
        --cfg-options allow_random_init=True
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
import time

from mmengine.config import DictAction  # light: no torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the method\'s task config')
    parser.add_argument('--work-dir',
                        help='folder for the runs (default: a temporary '
                        'folder, removed afterwards unless --keep)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the runs\' folder')
    parser.add_argument('--iters', type=int, default=4,
                        help='iterations of each run (default: 4)')
    parser.add_argument('--resume-at', type=int,
                        help='where the stopped run ends and the resumed '
                        'one starts (default: iters // 2)')
    parser.add_argument('--batch-size', type=int, default=2,
                        help='training batch size (default: 2; 0 keeps the '
                        'config\'s)')
    parser.add_argument('--val-images', type=int, default=8,
                        help='validation images (default: 8; 0: all)')
    parser.add_argument('--target-images', type=int, default=16,
                        help='target training images (default: 16; 0: all)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-ddp', action='store_true',
                        help='skip the two-process check')
    parser.add_argument('--no-record', action='store_true',
                        help='skip the benchmark record check')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file not found: {args.config}')
        return 2
    os.environ['CUDA_VISIBLE_DEVICES'] = ''  # the checks run on the CPU
    from clst_mmseg.apis import set_tool_threads
    set_tool_threads()
    import clst_mmseg
    clst_mmseg.register_all_modules()
    from mmengine.config import Config

    from clst_mmseg.apis.method_check import (CheckResult, CheckSettings,
                                              check_method,
                                              short_run_options)
    from clst_mmseg.benchmark.method_record import check_record

    settings = CheckSettings(
        iters=args.iters, resume_at=args.resume_at,
        batch_size=args.batch_size or None,
        val_images=args.val_images or None,
        target_images=args.target_images or None, seed=args.seed,
        ddp=not args.no_ddp)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='check_method_')
    start = time.monotonic()

    def progress(msg: str) -> None:
        print(f'  [{time.monotonic() - start:5.1f} s] {msg}', flush=True)

    print(f'check_method {args.config}: {settings.iters} iterations (resume '
          f'at {settings.k}), batch {settings.batch_size or "as configured"}'
          f', {settings.val_images or "all"} validation and '
          f'{settings.target_images or "all"} target images, seed '
          f'{settings.seed}, CPU; runs in {work_dir}', flush=True)
    try:
        results = check_method(args.config, work_dir, settings,
                               args.cfg_options, progress)
        if args.no_record:
            results.append(CheckResult('record', None, 'not run '
                                       '(--no-record)'))
        elif results[0].ok:
            progress('one run through the benchmark (tools/train.py)')
            raw = Config.fromfile(args.config,
                                  import_custom_modules=False).to_dict()
            overrides = dict(short_run_options(
                raw, settings, settings.iters, settings.iters,
                trajectory_points=1), **(args.cfg_options or {}))
            ok, why = check_record(args.config, overrides,
                                   osp.join(work_dir, 'record'),
                                   seed=settings.seed)
            results.append(CheckResult(
                'record', ok, why, '' if ok else
                'see the record and train.log under '
                f'{osp.join(work_dir, "record")}'))
        else:
            results.append(CheckResult('record', None, 'not run: the config '
                                       'check failed'))
    except BaseException:
        print(f'runs kept in {work_dir}')
        raise
    for result in results:
        print('\n'.join(result.lines()))
    failed = [r.name for r in results if r.ok is False]
    passed = sum(r.ok is True for r in results)
    print(f'{passed} passed, {len(failed)} failed' +
          (f' ({", ".join(failed)})' if failed else '') +
          f', {sum(r.ok is None for r in results)} not run, in '
          f'{time.monotonic() - start:.0f} s')
    if args.work_dir or args.keep or failed:
        print(f'runs kept in {work_dir}')
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
