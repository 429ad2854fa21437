"""Paper-scale smoke: every method's real paper-scale config trained for a
few iterations and evaluated on a few images, on random data in the exact
GTA5 / SYNTHIA / Cityscapes layouts at their real sizes.

What runs is the paper suite (``configs/benchmarks/paper.py``) with seed 0
through the benchmark's own path (``tools/train.py`` then ``tools/test.py``
as subprocesses, one record per run), each config unchanged except that its
datasets read the random data and a probe hook (``SmokeProbeHook``) writes
what the run did: the configs' network (DeepLabV2-ResNet-101, MiT-B5 +
DAFormer head), crops and resize scales, CLST's ensemble grid, evaluation at the label resolution the config
asks for. Checked per run: the record (finished, iterations, the task's
class subsets, the 19 classes), batch shapes against the config's crops,
source labels against their images, the ensemble grid against the
network's output for a whole target frame, and prediction against label
shapes at the evaluation resolution. Printed per run: seconds per training
iteration (the last one; the first warms up) and peak memory (CUDA
``max_memory_allocated``, or on the CPU the growth of the resident set size
during training).

No pretrained weights are available offline: the runs start from random
initialisation (``--cfg-options allow_random_init=True``), and with random
images and labels their losses and mIoU mean nothing. The report says so.
Progress goes to stderr, the report to stdout (``> report.txt``).

Examples::

    python tools/smoke_paper_scale.py                # every method, both tasks
    python tools/smoke_paper_scale.py --methods clst dacs --tasks gta2cs
    python tools/smoke_paper_scale.py --device cuda  # GPU: time and memory
    # quick, NOT the paper's sizes:
    python tools/smoke_paper_scale.py --scale 0.125 --images 2 --methods clst
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import sys

from mmengine.config import DictAction

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--suite',
                        default=osp.join(ROOT, 'configs', 'benchmarks',
                                         'paper.py'),
                        help='the paper-scale suite (default: %(default)s)')
    parser.add_argument('--tasks', nargs='+',
                        help="tasks (default: the suite's)")
    parser.add_argument('--methods', nargs='+',
                        help="methods (default: the suite's)")
    parser.add_argument('--images', type=int, default=4,
                        help='images of each training set (default: 4)')
    parser.add_argument('--val-images', type=int, default=2,
                        help='validation images (default: 2)')
    parser.add_argument('--iters', type=int, default=2,
                        help='training iterations (default: 2)')
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiply every image size, crop, resize scale '
                        'and grid by this (default 1: the real sizes; < 1 is '
                        'a quick run that is not paper scale)')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'],
                        default='auto')
    parser.add_argument('--threads', type=int,
                        help='torch threads of each CPU run '
                        '(OMP_NUM_THREADS; default: torch\'s)')
    parser.add_argument('--work-dir',
                        default=osp.join('work_dirs', 'paper_smoke'),
                        help='data, configs, runs and records '
                        '(default: %(default)s)')
    parser.add_argument('--keep-checkpoints', action='store_true',
                        help='keep each run\'s checkpoint (with optimizer '
                        'state: ResNet-101 ~0.3-0.5 GB, MiT-B5 with AdamW '
                        '~1 GB, more with a teacher)')
    parser.add_argument('--json', help='also write the rows to this file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='more overrides for every run (key=value, as tools/train.py '
        'takes them; they go into the records)')
    return parser.parse_args(argv)


def _check_args(args) -> None:
    for key in ('images', 'val_images', 'iters'):
        if getattr(args, key) < 1:
            sys.exit(f'error: --{key.replace("_", "-")} must be >= 1, got '
                     f'{getattr(args, key)}')
    if not 0 < args.scale <= 1:
        sys.exit(f'error: --scale must be in (0, 1], got {args.scale}')
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            sys.exit('error: --device cuda: no CUDA device is visible')


def _read_json(path: str) -> dict:
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _header(args, device: str, threads, notes=()) -> list:
    from clst_mmseg.datasets.official_layouts import (CITYSCAPES_SIZE,
                                                      GTA5_SIZE, SYNTHIA_SIZE)
    sizes = ', '.join(f'{name} {w}x{h}' for name, (w, h) in (
        ('GTA5', GTA5_SIZE), ('SYNTHIA', SYNTHIA_SIZE),
        ('Cityscapes', CITYSCAPES_SIZE)))
    lines = [
        f'paper-scale smoke of {osp.relpath(args.suite, ROOT)} (seed 0): '
        f'{args.iters} training iterations, {args.val_images} validation '
        f'images, {args.images} images per training set',
        'RANDOM INITIALISATION: no pretrained weights on this machine, the '
        'runs opt in with --cfg-options allow_random_init=True; images and '
        'labels are random, so losses and mIoU mean nothing',
    ]
    if args.scale == 1:
        lines.append(f'sizes: the datasets\' real sizes ({sizes}) and the '
                     "configs' own crops, resize scales and grids")
    else:
        lines.append(f'REDUCED SIZES: every image size, crop, resize scale '
                     f'and grid x{args.scale} (not the paper\'s sizes), '
                     f'lengths in pixels (pseudo-label crop margins, mask '
                     f'blocks) too, rare class sampling\'s min_pixels '
                     f'x{args.scale}^2')
    lines += [n for n in notes if n]
    peak = ('CUDA max_memory_allocated' if device == 'cuda' else
            'growth of the resident set size during training')
    if args.cfg_options:
        lines.append('more overrides: ' + ' '.join(
            f'{k}={v}' for k, v in args.cfg_options.items()))
    from clst_mmseg.benchmark.provenance import hardware
    hw = hardware()
    gpus = ', '.join(str(g) for g in hw.get('gpus') or []) or 'no GPU'
    lines.append(f'machine: {hw.get("cpu")} x {hw.get("cpu_count")} cores, '
                 f'{gpus}')
    lines.append(f'device {device} ({threads} torch thread(s) per run); '
                 f's/iter = the last training iteration (data, step and '
                 f'hooks), 1st iter = the first; peak = {peak}')
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    _check_args(args)
    import clst_mmseg  # noqa: F401
    import torch
    from mmengine.config import Config

    from clst_mmseg.benchmark.paper_smoke import (check_run,
                                                  feature_distance_note,
                                                  format_report,
                                                  run_overrides,
                                                  scaled_size, smoke_config,
                                                  write_fake_data)
    from clst_mmseg.benchmark.run_one import execute
    from clst_mmseg.benchmark.suite import SuiteError, load_suite
    from clst_mmseg.datasets.official_layouts import CITYSCAPES_SIZE
    from clst_mmseg.engine.hooks.smoke_probe_hook import PROBE_FILE

    configs_root = osp.join(ROOT, 'configs')
    try:
        paper = load_suite(args.suite, seeds=[0], comparisons=[],
                           configs_root=configs_root)
    except SuiteError as e:
        sys.exit(f'error: {e}')
    tasks = args.tasks or paper.tasks
    names = [m.name for m in paper.methods]
    methods = args.methods or names
    for what, given, known in (('tasks', tasks, paper.tasks),
                               ('methods', methods, names)):
        unknown = [x for x in given if x not in known]
        if unknown:
            sys.exit(f'error: --{what} {unknown} are not in the suite '
                     f'{args.suite} ({known})')

    work = osp.abspath(args.work_dir)
    for sub in ('data', 'configs', 'runs', 'results'):
        shutil.rmtree(osp.join(work, sub), ignore_errors=True)
    print(f'writing random data in the official layouts under '
          f'{work}/data ...', file=sys.stderr, flush=True)
    roots = write_fake_data(osp.join(work, 'data'), args.images,
                            args.val_images, args.scale)

    entries = []
    smoke_cfgs = {}
    for m in paper.methods:
        if m.name not in methods:
            continue
        template = osp.join(work, 'configs', m.name, '{task}.py')
        for task in tasks:
            path = template.format(task=task)
            os.makedirs(osp.dirname(path), exist_ok=True)
            cfg = smoke_config(m.config.format(task=task), roots, args.scale)
            cfg.dump(path)
            smoke_cfgs[m.name] = cfg.to_dict()
        entry = dict(name=m.name, config=template)
        if m.reference is not None:
            entry['reference'] = m.reference
        entries.append(entry)
    overrides = {**run_overrides(args.iters), **args.cfg_options}
    suite = load_suite(args.suite, extra_overrides=overrides,
                       tasks=tasks, methods=entries, seeds=[0],
                       comparisons=[], device=args.device,
                       configs_root=configs_root,
                       results_dir=osp.join(work, 'results'),
                       work_dir=osp.join(work, 'runs'))

    device = args.device if args.device != 'auto' else (
        'cuda' if torch.cuda.is_available() else 'cpu')
    env = {'OMP_NUM_THREADS': str(args.threads)} if args.threads else {}
    label_size = scaled_size(CITYSCAPES_SIZE, args.scale)[::-1]
    rows = []
    for i, spec in enumerate(suite.runs, 1):
        print(f'[{i}/{len(suite.runs)}] {spec.task}/{spec.method} ...',
              file=sys.stderr, flush=True)
        outcome = execute(spec, retrain=True, env=env)
        cfg = Config.fromfile(spec.config).to_dict()
        row, problems = check_run(
            outcome.record,
            _read_json(osp.join(spec.work_dir, PROBE_FILE)),
            _read_json(osp.join(spec.work_dir, 'test', PROBE_FILE)), cfg,
            iters=args.iters, target_images=args.images,
            val_images=args.val_images, label_size=label_size,
            device=args.device)
        row.update(task=spec.task, method=spec.method, problems=problems,
                   record=osp.join(suite.results_dir, spec.task, 'records',
                                   f'{spec.run_id}.json'))
        rows.append(row)
        print(f'    {"ok" if not problems else "FAILED: " + problems[0]}',
              file=sys.stderr, flush=True)
        if not args.keep_checkpoints:
            for ckpt in glob.glob(osp.join(spec.work_dir, '*.pth')):
                os.remove(ckpt)

    threads = next((r['threads'] for r in rows if r.get('threads')), '?')
    notes = [feature_distance_note(smoke_cfgs)]
    print(format_report(rows, _header(args, device, threads, notes)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0 if all(not r['problems'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
