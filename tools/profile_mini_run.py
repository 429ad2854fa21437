"""Where one benchmark run spends its time: a CPU-time breakdown of
``tools/train.py`` (and, with ``--test-process``, of the separate
``tools/test.py`` evaluation the benchmark ran after it), extrapolated to the
config's full schedule.

The training runs in this process, through ``tools/train.py``'s own
``main()``, on a miniature of the config's schedule: ``--iters`` iterations
instead of ``train_cfg.max_iters``, with the validation and checkpoint
intervals (and warm-up / ramp-up iteration keys of the model, and the end of
iteration-based LR schedules) scaled by the same factor, so the run
evaluates and writes checkpoints as often as the full one. Timers wrapped
around mmengine's entry points charge each CPU second to one phase (the
innermost wrapped call, except evaluation, which keeps everything it calls):

- start-up: interpreter + imports (torch, mmengine, mmseg, clst_mmseg);
- config load, config checks (model types, data verification), runner
  build, dataloader build (datasets, file lists);
- per iteration: data loading (one row per transform, the rest is the
  sampler / collate / paired-dataset glue), train step (forward, backward,
  optimizer), hooks (logging, timers, RNG state, ...);
- per evaluation (``ValLoop.run``) and per checkpoint write
  (``Runner.save_checkpoint``);
- the separate evaluation process (its whole CPU time, from ``wait4``).

Per-iteration phases count the first half of the miniature as measured
and the rest of the full schedule at the rate of its second half (the
steady state: in-memory caches filled); evaluations and checkpoints are
scaled by their counts.
CPU time (``time.process_time``, user + system of this process) is what the
table reports: on a shared machine wall times depend on the neighbours'
load, CPU time much less so; the wall times are printed beside it. Set
``OMP_NUM_THREADS=1`` to profile what a benchmark run on a shared CPU sees.

Examples::

    OMP_NUM_THREADS=1 python tools/profile_mini_run.py
    python tools/profile_mini_run.py --method clst --iters 300 --test-process
    python tools/profile_mini_run.py --cprofile 25   # + top functions

It is a measuring tool, not a test.
"""
import argparse
import cProfile
import functools
import inspect
import os
import os.path as osp
import pstats
import runpy
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WARMUP_KEYS = ('warmup_iters', )
WARMUP_SUFFIXES = ('_warmup_iters', '_rampup_iters')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--method', default='source_only',
                        help='configs/<method>/<task>.py (default: '
                        'source_only)')
    parser.add_argument('--task', default='mini', help='default: mini')
    parser.add_argument('--config', help='a config file instead of '
                        '--method/--task')
    parser.add_argument('--iters', type=int, default=300,
                        help='iterations of the miniature schedule '
                        '(default: 300)')
    parser.add_argument('--test-process', action='store_true',
                        help='also run tools/test.py on the last checkpoint '
                        'in its own process, as the benchmark runner did')
    parser.add_argument('--cprofile', type=int, metavar='N', default=0,
                        help='also print the N functions with the most own '
                        'time under cProfile (inflates Python-heavy phases)')
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='more --cfg-options of the profiled training, '
                        'e.g. the suite\'s: +default_hooks.pseudo_label_'
                        'diagnostics.type=PseudoLabelDiagnosticsHook '
                        'randomness.seed=0')
    return parser.parse_args(argv)


class PhaseTimer:
    """Charges CPU and wall time to the phase of the innermost wrapped call
    (an absorbing phase keeps the time of the calls it makes)."""

    def __init__(self):
        self.cpu = defaultdict(float)
        self.wall = defaultdict(float)
        self.calls = defaultdict(int)
        self._stack = []
        self._mark = (time.process_time(), time.perf_counter())
        #: (phase, n): copy the CPU totals into ``snapshot`` when ``phase``
        #: starts for the n-th time
        self.snapshot_at = None
        self.snapshot = None

    def _charge(self):
        cpu, wall = time.process_time(), time.perf_counter()
        if self._stack:
            phase = self._stack[-1].lstrip('!')
            self.cpu[phase] += cpu - self._mark[0]
            self.wall[phase] += wall - self._mark[1]
        self._mark = (cpu, wall)

    def charge_start(self, phase):
        """Charge everything so far (process start included) to phase."""
        self.cpu[phase] += time.process_time()
        self.wall[phase] += time.perf_counter() - START_WALL
        self._mark = (time.process_time(), time.perf_counter())

    def run(self, phase, fn, *args, **kwargs):
        absorbed = self._stack and self._stack[-1].startswith('!')
        if absorbed:
            return fn(*args, **kwargs)
        self._charge()
        self._stack.append(phase)
        self.calls[phase.lstrip('!')] += 1
        if self.snapshot_at == (phase, self.calls[phase]):
            self.snapshot = dict(self.cpu)
        try:
            return fn(*args, **kwargs)
        finally:
            self._charge()
            self._stack.pop()

    def wrap(self, owner, name, phase, absorb=False):
        """Time every call of ``owner.name`` as ``phase``."""
        static = inspect.getattr_static(owner, name)
        kind = type(static) if isinstance(
            static, (staticmethod, classmethod)) else None
        func = static.__func__ if kind else static
        key = ('!' if absorb else '') + phase

        @functools.wraps(func)
        def timed(*args, **kwargs):
            return self.run(key, func, *args, **kwargs)

        setattr(owner, name, kind(timed) if kind else timed)

    def wrap_transforms(self):
        """One phase per data transform class (``BaseTransform.__call__``)."""
        from mmcv.transforms import BaseTransform
        func = BaseTransform.__call__

        @functools.wraps(func)
        def timed(transform, results):
            return self.run(f'data: {type(transform).__name__}', func,
                            transform, results)

        BaseTransform.__call__ = timed

    def finish(self):
        self._charge()


def _process_start_wall() -> float:
    """perf_counter() value at which this process started (from /proc)."""
    try:
        with open('/proc/self/stat') as f:
            start_ticks = int(f.read().rsplit(')', 1)[1].split()[19])
        with open('/proc/uptime') as f:
            uptime = float(f.read().split()[0])
        age = uptime - start_ticks / os.sysconf('SC_CLK_TCK')
        return time.perf_counter() - age
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


#: perf_counter() value at the start of this process.
START_WALL = _process_start_wall()


def import_stack():
    """Import what a training process needs (torch, mmengine's runner, mmseg
    and clst_mmseg with its registration)."""
    import torch  # noqa: F401
    import mmengine.runner  # noqa: F401

    import clst_mmseg  # compat layer first, then mmseg's models
    register = getattr(clst_mmseg, 'register_all_modules', None)
    if register is not None:
        register()
    import mmseg.models  # noqa: F401


def full_counts(cfg) -> dict:
    """Iterations, evaluations and checkpoint writes of the full schedule."""
    iters = int(cfg.train_cfg.max_iters)
    val_interval = int(cfg.train_cfg.get('val_interval', iters))
    val_begin = int(cfg.train_cfg.get('val_begin', 1))
    evals = sum(1 for i in range(1, iters + 1) if i >= val_begin and (
        i % val_interval == 0 or i == iters)) if cfg.get('val_cfg') else 0
    ckpt = cfg.default_hooks.get('checkpoint') or {}
    interval = int(ckpt.get('interval', -1))
    ckpts = iters // interval if interval > 0 else 0
    if ckpt.get('save_last', True) and (interval <= 0 or iters % interval):
        ckpts += 1
    return dict(iterations=iters, evaluations=evals, checkpoints=ckpts)


def miniature_options(cfg, iters: int) -> list:
    """``--cfg-options`` that shrink the schedule to ``iters`` iterations
    with the same number of evaluations and checkpoint writes."""
    full = int(cfg.train_cfg.max_iters)
    scale = iters / full

    def scaled(v):
        return max(1, int(round(v * scale)))

    opts = [f'train_cfg.max_iters={iters}']
    if 'val_interval' in cfg.train_cfg:
        opts.append(
            f'train_cfg.val_interval={scaled(cfg.train_cfg.val_interval)}')
    ckpt = cfg.default_hooks.get('checkpoint') or {}
    if ckpt.get('interval', -1) > 0:
        opts.append('default_hooks.checkpoint.interval='
                    f'{scaled(ckpt["interval"])}')
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        if isinstance(sched, dict) and sched.get('end') == full and \
                not sched.get('by_epoch', True):
            opts.append(f'param_scheduler.{i}.end={iters}')
    for key, value in cfg.model.items():
        if (key in WARMUP_KEYS or key.endswith(WARMUP_SUFFIXES)) and \
                isinstance(value, int) and value > 0:
            opts.append(f'model.{key}={int(round(value * scale))}')
    return opts


PER_ITER = ('data loading', 'train step (forward, backward, optimizer)',
            'hooks (logging, timers, RNG state, ...)')


def report(timer: PhaseTimer, measured: dict, full: dict, test: dict,
           total_cpu: float, total_wall: float) -> str:
    rows = []
    order = ['start-up (interpreter, imports)', 'config load',
             'config checks (model types, data verification)',
             'runner build (model, hooks, logger)',
             'dataloader build (datasets, file lists)',
             'train setup (weights init, optimizer, loop)']
    data_rows = sorted((p for p in timer.cpu if p.startswith('data: ')),
                       key=lambda p: -timer.cpu[p])
    order += ['data loading'] + data_rows + list(PER_ITER[1:])
    order += ['evaluation (ValLoop, in the training process)',
              'checkpoint writing']
    accounted = sum(timer.cpu.values())
    timer.cpu['other (main, config dump, teardown)'] = max(
        0.0, total_cpu - accounted)
    timer.wall['other (main, config dump, teardown)'] = max(
        0.0, total_wall - sum(timer.wall.values()))
    order.append('other (main, config dump, teardown)')
    iters, half = measured['iterations'], measured['iterations'] // 2
    snap = timer.snapshot or {}

    def factor(phase):
        if phase in PER_ITER or phase.startswith('data: '):
            # first half as measured, the rest at the second half's rate
            # (steady state: caches filled, warm-ups scaled away)
            cpu, first = timer.cpu.get(phase, 0.0), snap.get(phase, 0.0)
            rate = (cpu - first) / (iters - half)
            est = first + rate * (full['iterations'] - half)
            return (est / cpu if cpu else 0.0), 'iter'
        if phase.startswith('evaluation'):
            n = timer.calls.get(phase, 0)
            return (full['evaluations'] / n if n else 0.0), 'eval'
        if phase == 'checkpoint writing':
            n = timer.calls.get(phase, 0)
            return (full['checkpoints'] / n if n else 0.0), 'ckpt'
        return 1.0, 'run'

    est = {}
    for phase in order:
        f, _ = factor(phase)
        est[phase] = timer.cpu.get(phase, 0.0) * f
    if test:
        est['separate evaluation process (tools/test.py)'] = test['cpu']
        order.append('separate evaluation process (tools/test.py)')
        timer.cpu['separate evaluation process (tools/test.py)'] = test['cpu']
        timer.wall['separate evaluation process (tools/test.py)'] = \
            test['wall']
    grand = sum(v for k, v in est.items())
    lines = [
        f'measured: {measured["iterations"]} iterations, '
        f'{timer.calls.get("evaluation (ValLoop, in the training process)", 0)}'
        f' evaluation(s), {timer.calls.get("checkpoint writing", 0)} '
        'checkpoint write(s); full schedule: '
        f'{full["iterations"]} iterations, {full["evaluations"]} '
        f'evaluation(s), {full["checkpoints"]} checkpoint write(s)',
        f'{"phase":<52}{"CPU s":>8}{"wall s":>8}{"per":>6}{"x":>7}'
        f'{"full CPU s":>11}{"%":>6}', '-' * 98
    ]
    for phase in order:
        f, unit = factor(phase)
        name = ('  ' + phase) if phase.startswith('data: ') else phase
        lines.append(
            f'{name:<52}{timer.cpu.get(phase, 0.0):8.2f}'
            f'{timer.wall.get(phase, 0.0):8.2f}{unit:>6}{f:7.1f}'
            f'{est[phase]:11.1f}{100 * est[phase] / grand:6.1f}')
    lines.append('-' * 98)
    lines.append(f'{"total (one run, full schedule)":<52}'
                 f'{total_cpu + (test or {}).get("cpu", 0.0):8.2f}'
                 f'{total_wall + (test or {}).get("wall", 0.0):8.2f}'
                 f'{"":>13}{grand:11.1f}{100.0:6.1f}')
    lines.append('("data: X" = time inside transform X; "data loading" = '
                 'the rest of fetching a batch: sampler, paired dataset, '
                 'collate. CPU = user + system time; wall times depend on '
                 'the other load of a shared machine)')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    timer = PhaseTimer()
    import_stack()
    timer.charge_start('start-up (interpreter, imports)')

    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmengine.runner.loops import (IterBasedTrainLoop, ValLoop,
                                       _InfiniteDataloaderIterator)

    import clst_mmseg.apis.config as apis  # the tools import from here
    config = args.config or osp.join(ROOT, 'configs', args.method,
                                     f'{args.task}.py')
    raw = Config.fromfile(config)
    full = full_counts(raw)
    opts = miniature_options(raw, args.iters)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='profile_mini_run_')

    timer.wrap(apis, 'load_config', 'config load')
    timer.wrap(apis, 'prepare_run',
               'config checks (model types, data verification)')
    timer.wrap(Runner, 'from_cfg', 'runner build (model, hooks, logger)')
    timer.wrap(Runner, 'build_dataloader',
               'dataloader build (datasets, file lists)')
    timer.wrap(Runner, 'train', 'train setup (weights init, optimizer, loop)')
    timer.wrap(_InfiniteDataloaderIterator, '__next__', 'data loading')
    timer.wrap_transforms()
    timer.wrap(IterBasedTrainLoop, 'run_iter', PER_ITER[1])
    timer.snapshot_at = (PER_ITER[1], args.iters // 2 + 1)
    timer.wrap(Runner, 'call_hook', PER_ITER[2])
    timer.wrap(ValLoop, 'run',
               'evaluation (ValLoop, in the training process)', absorb=True)
    timer.wrap(Runner, 'save_checkpoint', 'checkpoint writing')

    argv_train = [osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
                  work_dir, '--cfg-options', *opts, *args.cfg_options]
    print('profiling: python ' + ' '.join(argv_train), flush=True)
    train = runpy.run_path(argv_train[0], run_name='profiled_train')
    sys.argv = argv_train
    prof = cProfile.Profile() if args.cprofile else None
    if prof:
        prof.enable()
    train['main']()
    if prof:
        prof.disable()
    timer.finish()
    total_cpu = time.process_time()
    total_wall = time.perf_counter() - START_WALL

    test = {}
    if args.test_process:
        ckpts = sorted(
            (p for p in os.listdir(work_dir) if p.startswith('iter_')
             and p.endswith('.pth')),
            key=lambda p: int(p[5:-4]))
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), config,
               osp.join(work_dir, ckpts[-1]), '--work-dir',
               osp.join(work_dir, 'test'), '--metrics-json',
               osp.join(work_dir, 'metrics.json'), '--no-verify',
               '--cfg-options', *opts]
        print('profiling: ' + ' '.join(cmd), flush=True)
        start = time.perf_counter()
        with open(osp.join(work_dir, 'test.log'), 'w') as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f'error: tools/test.py failed, see {work_dir}/test.log')
        test = dict(cpu=usage.ru_utime + usage.ru_stime,
                    wall=time.perf_counter() - start)

    print()
    print(f'profile of one run of {osp.relpath(config, ROOT)} '
          f'(torch threads: {_threads()}, work dir {work_dir})')
    print(report(timer, dict(iterations=args.iters), full, test, total_cpu,
                 total_wall))
    if prof:
        print()
        stats = pstats.Stats(prof)
        stats.sort_stats('tottime').print_stats(args.cprofile)


def _threads() -> int:
    import torch
    return torch.get_num_threads()


if __name__ == '__main__':
    main()
