"""Where one benchmark run spends its time: a CPU-time breakdown of
``tools/train.py`` for any config (and, with ``--test-process``, of the
separate ``tools/test.py`` evaluation), extrapolated to the config's full
schedule when a shorter one is measured.

The training runs in this process, through ``tools/train.py``'s own
``main()``: by default the config's full schedule; with ``--iters`` a
miniature of it, with the validation and checkpoint intervals (and the
warm-up / ramp-up iteration keys of the model, and the begin / end of
iteration-based LR schedules) scaled by the same factor, so the run
evaluates and writes checkpoints as often as the full one. Timers wrapped
around mmengine's entry points charge each CPU second to one phase (the
innermost wrapped call, except evaluation, which keeps everything it calls
apart from its own named parts):

- start-up: interpreter + imports (torch, mmengine, mmseg, clst_mmseg);
- config load, config checks (model types, data verification), runner
  build, dataloader build (datasets, file lists);
- per iteration: data loading (one row per transform, the rest is the
  sampler / collate / paired-dataset glue), train step (forward, backward,
  optimizer), hooks (one row per hook class that does work, the rest is
  mmengine's hook dispatch);
- per evaluation (``ValLoop.run``: the target-val pass, its metric and
  logging; the checkpoint trajectory's label-free criteria on target-train
  images and its source-val mIoU as rows of their own) and per checkpoint
  write (``Runner.save_checkpoint``);
- the separate evaluation process (its whole CPU time, from ``wait4``).

A miniature's per-iteration phases count its first half as measured and
the rest of the full schedule at the rate of its second half (the steady
state: in-memory caches filled); evaluations and checkpoints are scaled by
their counts. The last lines give the run as a cost model -- fixed CPU per
run + per iteration + per evaluation -- for budgeting a suite.
CPU time (``time.process_time``, user + system of this process) is what the
table reports: on a shared machine wall times depend on the neighbours'
load, CPU time much less so; the wall times are printed beside it. Set
``OMP_NUM_THREADS=1`` to profile what a benchmark run on a shared CPU sees.

Examples (``--suite``: the run as that suite executes it, with its
overrides, e.g. the pseudo-label diagnostics, and seed)::

    OMP_NUM_THREADS=1 python tools/profile_mini_run.py --method clst \\
        --suite configs/benchmarks/default.py
    python tools/profile_mini_run.py \\
        --config configs/source_only/mini_daformer.py
    python tools/profile_mini_run.py --method dacs --task adverse --iters 200
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
    parser.add_argument('--suite', help='profile the run of --method on '
                        '--task that this suite file executes (its config, '
                        'overrides and seed)')
    parser.add_argument('--seed', type=int, help='with --suite: the seed '
                        "(default: the suite's first)")
    parser.add_argument('--iters', type=int,
                        help='measure a miniature of this many iterations '
                        'and extrapolate (default: the full schedule)')
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
    (an absorbing phase keeps the time of the calls it makes, except those
    of its sub-phases, named ``'<phase>: <part>'``)."""

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
        top = self._stack[-1] if self._stack else ''
        if top.startswith('!') and not phase.lstrip('!').startswith(
                top.lstrip('!') + ': '):
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
        """One phase per data transform class (``BaseTransform.__call__``)
        while a training batch is fetched (elsewhere, e.g. in a hook, a
        transform's time stays with its caller)."""
        from mmcv.transforms import BaseTransform
        func = BaseTransform.__call__

        @functools.wraps(func)
        def timed(transform, results):
            top = self._stack[-1] if self._stack else ''
            if top != DATA and not top.startswith('data: '):
                return func(transform, results)
            return self.run(f'data: {type(transform).__name__}', func,
                            transform, results)

        BaseTransform.__call__ = timed

    def wrap_hook(self, hook):
        """Time the stage methods a hook instance overrides as
        ``hooks: <its class>``."""
        from mmengine.hooks import Hook
        phase = f'hooks: {type(hook).__name__}'
        for name in Hook.stages:
            if getattr(type(hook), name, None) is getattr(Hook, name):
                continue
            method = getattr(hook, name)

            def timed(*args, _method=method, **kwargs):
                return self.run(phase, _method, *args, **kwargs)

            setattr(hook, name, timed)

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


def _trajectory_points(cfg) -> int:
    """Evaluations the checkpoint trajectory asks for (0: none)."""
    for hook in cfg.get('custom_hooks') or []:
        if isinstance(hook, dict) and \
                hook.get('type') == 'CheckpointTrajectoryHook':
            points = hook.get('num_points')
            return int(cfg.get('trajectory_points', 0) or 0
                       if points is None else points)
    return 0


def full_counts(cfg) -> dict:
    """Iterations, evaluations and checkpoint writes of the full schedule."""
    iters = int(cfg.train_cfg.max_iters)
    val_interval = int(cfg.train_cfg.get('val_interval', iters))
    points = _trajectory_points(cfg)
    if points:  # CheckpointTrajectoryHook sets the interval
        val_interval = max(1, iters // points)
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
    scheds = cfg.get('param_scheduler') or []
    for i, sched in enumerate([scheds] if isinstance(scheds, dict) else
                              scheds):
        if not isinstance(sched, dict) or sched.get('by_epoch', True):
            continue
        where = 'param_scheduler' + ('' if isinstance(scheds, dict) else
                                     f'.{i}')
        for key in ('begin', 'end'):
            value = sched.get(key)
            if isinstance(value, int) and value > 0:
                # end = max_iters (+1) stays at the miniature's end
                opts.append(f'{where}.{key}={int(round(value * scale))}')
    for key, value in cfg.model.items():
        if (key in WARMUP_KEYS or key.endswith(WARMUP_SUFFIXES)) and \
                isinstance(value, int) and value > 0:
            opts.append(f'model.{key}={int(round(value * scale))}')
    return opts


STARTUP = 'start-up (interpreter, imports)'
SETUP = ('config load', 'config checks (model types, data verification)',
         'runner build (model, hooks, logger)',
         'dataloader build (datasets, file lists)',
         'train setup (weights init, optimizer, loop)')
DATA, STEP, HOOKS = ('data loading',
                     'train step (forward, backward, optimizer)', 'hooks')
EVAL = 'evaluation'
EVAL_PARTS = ('evaluation: trajectory, label-free criteria (target train)',
              'evaluation: trajectory, source-val mIoU')
CKPT = 'checkpoint writing'
OTHER = 'other (main, config dump, teardown)'
TEST = 'separate evaluation process (tools/test.py)'
#: how the rows whose phase name says little are printed
LABELS = {
    HOOKS: 'hooks (the rest: mmengine\'s dispatch, idle hooks)',
    EVAL: 'evaluation (the rest: target-val pass, its metric, logging)',
}


def _per_iteration(phase: str) -> bool:
    return phase in (DATA, STEP, HOOKS) or phase.startswith(
        ('data: ', 'hooks: '))


def report(timer: PhaseTimer, measured: dict, full: dict, test: dict,
           total_cpu: float, total_wall: float) -> str:
    """The breakdown table and the run as a cost model."""

    def by_cpu(prefix):
        return sorted((p for p in timer.cpu if p.startswith(prefix)),
                      key=lambda p: -timer.cpu[p])

    for phase in by_cpu('hooks: '):  # hooks that cost nothing: the rest
        if timer.cpu[phase] < 0.005:
            timer.cpu[HOOKS] += timer.cpu.pop(phase)
            timer.wall[HOOKS] += timer.wall.pop(phase, 0.0)
    order = [STARTUP, *SETUP, DATA, *by_cpu('data: '), STEP, HOOKS,
             *by_cpu('hooks: '), EVAL, *EVAL_PARTS, CKPT]
    timer.cpu[OTHER] = max(0.0, total_cpu - sum(timer.cpu.values()))
    timer.wall[OTHER] = max(0.0, total_wall - sum(timer.wall.values()))
    order.append(OTHER)
    iters, half = measured['iterations'], measured['iterations'] // 2
    snap = timer.snapshot or {}
    evals = timer.calls.get(EVAL, 0)

    def factor(phase):
        if _per_iteration(phase):
            # first half as measured, the rest at the second half's rate
            # (steady state: caches filled, warm-ups scaled away)
            cpu, first = timer.cpu.get(phase, 0.0), snap.get(phase, 0.0)
            rate = (cpu - first) / max(1, iters - half)
            est = first + rate * (full['iterations'] - half)
            return (est / cpu if cpu else 0.0), 'iter'
        if phase.startswith(EVAL):
            return (full['evaluations'] / evals if evals else 0.0), 'eval'
        if phase == CKPT:
            n = timer.calls.get(phase, 0)
            return (full['checkpoints'] / n if n else 0.0), 'ckpt'
        return 1.0, 'run'

    est = {p: timer.cpu.get(p, 0.0) * factor(p)[0] for p in order}
    if test:
        order.append(TEST)
        est[TEST] = timer.cpu[TEST] = test['cpu']
        timer.wall[TEST] = test['wall']
    grand = sum(est.values()) or 1.0
    lines = [
        f'measured: {iters} iterations, {evals} evaluation(s), '
        f'{timer.calls.get(CKPT, 0)} checkpoint write(s); full schedule: '
        f'{full["iterations"]} iterations, {full["evaluations"]} '
        f'evaluation(s), {full["checkpoints"]} checkpoint write(s)',
        f'{"phase":<60}{"CPU s":>8}{"wall s":>8}{"per":>6}{"x":>6}'
        f'{"full CPU s":>11}{"%":>6}', '-' * 105
    ]
    for phase in order:
        if phase not in timer.cpu and phase not in (STEP, EVAL):
            continue
        f, unit = factor(phase)
        name = LABELS.get(phase, phase)
        if phase.startswith(('data: ', 'hooks: ', 'evaluation: ')):
            name = '  ' + name
        lines.append(
            f'{name:<60}{timer.cpu.get(phase, 0.0):8.2f}'
            f'{timer.wall.get(phase, 0.0):8.2f}{unit:>6}{f:6.1f}'
            f'{est[phase]:11.1f}{100 * est[phase] / grand:6.1f}')
    lines.append('-' * 105)
    lines.append(f'{"total (one run, full schedule)":<60}'
                 f'{total_cpu + (test or {}).get("cpu", 0.0):8.2f}'
                 f'{total_wall + (test or {}).get("wall", 0.0):8.2f}'
                 f'{"":>12}{grand:11.1f}{100.0:6.1f}')
    lines.append('("data: X" = time inside transform X; "data loading" = '
                 'the rest of fetching a batch: sampler, paired dataset, '
                 'collate; "hooks: X" = the stages hook X overrides. CPU = '
                 'user + system time; wall times depend on the other load '
                 'of a shared machine)')
    per_iter = sum(v for p, v in est.items() if _per_iteration(p))
    per_eval = sum(v for p, v in est.items() if p.startswith(EVAL))
    fixed = grand - per_iter - per_eval
    n_it, n_ev = full['iterations'], full['evaluations']
    lines.append(
        f'cost model (CPU s): {fixed:.1f} per run (start-up, set-up, '
        f'checkpoints, teardown) + {1000 * per_iter / max(1, n_it):.1f} ms '
        f'x {n_it} iterations + '
        f'{per_eval / max(1, n_ev):.2f} s x {n_ev} evaluations = '
        f'{grand:.1f}')
    return '\n'.join(lines)


def suite_run(args) -> tuple:
    """The config and ``--cfg-options`` of the suite's run of
    ``args.method`` on ``args.task`` (seed ``args.seed`` or the first)."""
    from clst_mmseg.benchmark.suite import SuiteError, load_suite
    try:
        suite = load_suite(args.suite)
    except SuiteError as e:
        sys.exit(f'error: {e}')
    runs = [r for r in suite.runs if r.task == args.task and
            r.method == args.method and args.seed in (None, r.seed)]
    if not runs:
        sys.exit(f'error: suite {args.suite} has no run of method '
                 f'{args.method!r} on task {args.task!r}' +
                 ('' if args.seed is None else f' with seed {args.seed}'))
    return runs[0].config, list(runs[0].cfg_options)


def main(argv=None):
    args = parse_args(argv)
    timer = PhaseTimer()
    import_stack()
    timer.charge_start(STARTUP)

    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmengine.runner.loops import (IterBasedTrainLoop, ValLoop,
                                       _InfiniteDataloaderIterator)

    import clst_mmseg.apis.config as apis  # the tools import from here
    from clst_mmseg.engine.hooks.trajectory_hook import \
        CheckpointTrajectoryHook
    config = args.config or osp.join(ROOT, 'configs', args.method,
                                     f'{args.task}.py')
    if args.suite:
        config, suite_options = suite_run(args)
        args.cfg_options = suite_options + args.cfg_options
    if not osp.isfile(config):
        sys.exit(f'error: config file not found: {config}')
    raw = Config.fromfile(config)
    if args.cfg_options:  # e.g. trajectory_points, max_iters
        from clst_mmseg.apis.config_checks import merge_cfg_options
        from mmengine.config import DictAction
        parsed = {}
        for item in args.cfg_options:
            key, value = item.split('=', 1)
            parsed[key] = DictAction._parse_iterable(value)
        merge_cfg_options(raw, parsed)
    full = full_counts(raw)
    iters = args.iters or full['iterations']
    opts = miniature_options(raw, iters) if args.iters else []
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='profile_mini_run_')

    timer.wrap(apis, 'load_config', SETUP[0])
    timer.wrap(apis, 'prepare_run', SETUP[1])
    timer.wrap(Runner, 'from_cfg', SETUP[2])
    timer.wrap(Runner, 'build_dataloader', SETUP[3])
    timer.wrap(Runner, 'train', SETUP[4])
    timer.wrap(_InfiniteDataloaderIterator, '__next__', DATA)
    timer.wrap_transforms()
    timer.wrap(IterBasedTrainLoop, 'run_iter', STEP)
    timer.snapshot_at = (STEP, iters // 2 + 1)
    timer.wrap(Runner, 'call_hook', HOOKS)
    register_hook = Runner.register_hook

    @functools.wraps(register_hook)
    def register_and_time(runner, *a, **kw):
        before = {id(h) for h in runner._hooks}
        register_hook(runner, *a, **kw)
        for hook in runner._hooks:
            if id(hook) not in before:
                timer.wrap_hook(hook)

    Runner.register_hook = register_and_time
    timer.wrap(ValLoop, 'run', EVAL, absorb=True)
    timer.wrap(CheckpointTrajectoryHook, '_target_criteria', EVAL_PARTS[0],
               absorb=True)
    timer.wrap(CheckpointTrajectoryHook, '_source_miou', EVAL_PARTS[1],
               absorb=True)
    timer.wrap(Runner, 'save_checkpoint', CKPT)

    argv_train = [osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
                  work_dir]
    if opts or args.cfg_options:
        argv_train += ['--cfg-options', *opts, *args.cfg_options]
    print('profiling: python ' + ' '.join(argv_train), flush=True)
    train = runpy.run_path(argv_train[0], run_name='profiled_train')
    sys.argv = argv_train
    prof = cProfile.Profile() if args.cprofile else None
    if prof:
        prof.enable()
    try:
        train['main']()
    except SystemExit as e:  # a tool that ends with sys.exit(0)
        if e.code not in (0, None):
            raise
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
               osp.join(work_dir, 'metrics.json'), '--no-verify']
        if opts or args.cfg_options:
            cmd += ['--cfg-options', *opts, *args.cfg_options]
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
    print(report(timer, dict(iterations=iters), full, test, total_cpu,
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
