"""Side-by-side cost of the UDA methods of one task: time per training
iteration and peak memory, as ratios to source-only, plus the size of
CLST's temporal-ensemble memory.

Each method runs in a fresh process (so peak-memory figures do not mix),
one after another, on the same machine, with the same model, data and
batch: the task config ``configs/<method>/<task>.py`` of every method that
has one (or those given with ``--methods``), trained for ``--warmup`` +
``--iters`` iterations through mmengine's runner (hooks included: the
temporal-ensemble update and pseudo-labelling count towards CLST's time).
Methods are timed in their steady state: model keys named ``warmup_iters``,
``warmup_ratio`` or ``*_warmup_iters`` / ``*_rampup_iters`` are set to 0, so
every term is active from the first iteration.

Time per iteration is the median interval between consecutive iterations
(data loading included) after the warm-up iterations. Machines drift (CPU
boost, neighbours), so the methods are measured in ``--repeats`` rounds,
interleaved (A B C, A B C, ...), and each figure is the median over the
rounds; the range over the rounds is printed beside it. Peak memory is
``torch.cuda.max_memory_allocated`` on a GPU; on the CPU it is the growth of
the process's resident set size from the start of training to its maximum
during the run (sampled from /proc/self/statm every 10 ms), which
covers activations, gradients, optimizer state and method state such as
the ensemble memory.

Examples::

    python tools/benchmark_speed.py                       # mini, CPU
    python tools/benchmark_speed.py --methods source_only self_training clst
    python tools/benchmark_speed.py --task gta2cs --device cuda --iters 50
    # the real network at the real input size (mini images padded to
    # 1024x512) on the mini data, e.g. on a machine without the datasets:
    python tools/benchmark_speed.py --methods self_training clst \
        --model configs/_base_/models/deeplabv2_r101.py --batch-size 1

It is a measuring tool, not a test: numbers depend on the machine and load.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PREFERRED = ('source_only', 'self_training', 'clst')
NOT_METHODS = ('benchmarks', '_base_')


def available_methods(task: str) -> list:
    """Methods with a ``configs/<method>/<task>.py``; source-only, pure
    self-training and CLST first."""
    found = sorted(
        osp.basename(osp.dirname(p))
        for p in glob.glob(osp.join(ROOT, 'configs', '*', f'{task}.py')))
    found = [m for m in found if m not in NOT_METHODS]
    return ([m for m in PREFERRED if m in found] +
            [m for m in found if m not in PREFERRED])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--task', default='mini',
                        help='task config name (default: mini)')
    parser.add_argument('--methods', nargs='+',
                        help='methods to compare (default: every configs/'
                        '<method>/<task>.py; source_only is always added)')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed iterations per method')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed iterations first (steady state)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='rounds of measurements, methods interleaved; '
                        'figures are the medians over the rounds')
    parser.add_argument('--model', help='a model base config (e.g. '
                        'configs/_base_/models/deeplabv2_r101.py) whose '
                        '`segmentor` and `data_preprocessor` replace the '
                        "task's, for every method (its input size too)")
    parser.add_argument('--batch-size', type=int,
                        help='override train_dataloader.batch_size (every '
                        'method gets the same)')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'],
                        default='auto')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per CPU run (default: torch\'s)')
    parser.add_argument('--json', help='also write the figures to this file')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--worker-out', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------
# worker: one method in its own process
# --------------------------------------------------------------------------
def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class _RSSSampler(threading.Thread):
    """Maximum resident set size seen while running."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = _rss_bytes()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.01)

    def stop(self):
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, _rss_bytes())


def _steady_state(model_cfg: dict) -> list:
    changed = []
    for key in list(model_cfg):
        if (key in ('warmup_iters', 'warmup_ratio')
                or key.endswith('_warmup_iters')
                or key.endswith('_rampup_iters')) and model_cfg[key]:
            model_cfg[key] = 0
            changed.append(key)
    return changed


def run_worker(args) -> dict:
    import torch
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import clst_mmseg  # noqa: F401
    from clst_mmseg.apis import load_config, prepare_run
    from mmseg.registry import HOOKS

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    total = args.warmup + args.iters
    work_dir = tempfile.mkdtemp(prefix='benchmark_speed_')
    cfg = load_config(args.worker, work_dir=work_dir)
    if args.model:
        from mmengine.config import Config
        base = Config.fromfile(args.model)
        num_classes = cfg.model.segmentor.decode_head.num_classes
        cfg.model.segmentor = base.segmentor
        cfg.model.segmentor.decode_head.num_classes = num_classes
        cfg.model.data_preprocessor = base.data_preprocessor
    changed = _steady_state(cfg.model)
    cfg.train_cfg.max_iters = total
    cfg.train_cfg.val_interval = 10**9
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=10**9, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**6,
                                    log_metric_by_epoch=False)
    for sched in cfg.get('param_scheduler') or []:
        if isinstance(sched, dict) and 'end' in sched:
            sched['end'] = total
    if args.batch_size:
        cfg.train_dataloader.batch_size = args.batch_size
    cfg.log_level = 'WARNING'
    cfg.allow_random_init = True  # timing only: the weights do not matter
    prepare_run(cfg)

    stamps, state = [], {}

    class _SpeedHook(Hook):
        priority = 'HIGHEST'

        def before_train(self, runner):
            state['rss0'] = _rss_bytes()
            state['sampler'] = _RSSSampler()
            state['sampler'].start()

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if cuda:
                torch.cuda.synchronize()
                if runner.iter == args.warmup:
                    torch.cuda.reset_peak_memory_stats()
            stamps.append(time.perf_counter())

        def after_train(self, runner):
            if cuda:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            state['sampler'].stop()

    name = f'_SpeedHook{os.getpid()}'
    HOOKS.register_module(name=name, module=_SpeedHook)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type=name)
    ]
    runner = Runner.from_cfg(cfg)
    runner.train()
    times = [b - a for a, b in zip(stamps, stamps[1:])][args.warmup:]
    model = runner.model.module if hasattr(runner.model,
                                           'module') else runner.model
    out = dict(
        config=osp.relpath(args.worker, ROOT),
        model_type=type(model).__name__,
        device='cuda' if cuda else 'cpu',
        batch_size=cfg.train_dataloader.batch_size,
        iters=len(times),
        sec_per_iter=statistics.median(times),
        sec_per_iter_mean=statistics.fmean(times),
        steady_state_keys=changed,
        peak_bytes=(torch.cuda.max_memory_allocated() if cuda else
                    state['sampler'].peak - state['rss0']),
        peak_kind=('cuda max_memory_allocated' if cuda else
                   'CPU RSS growth during training'),
        params=sum(p.numel() for p in model.parameters()))
    ens = [h for h in runner.hooks
           if type(h).__name__ == 'TemporalEnsembleHook']
    if ens and ens[0].memory is not None:
        out['ensemble_bytes'] = ens[0].memory.nbytes
    return out


# --------------------------------------------------------------------------
# parent: run the workers, print the table
# --------------------------------------------------------------------------
def _measure(method: str, args) -> dict:
    config = osp.join(ROOT, 'configs', method, f'{args.task}.py')
    with tempfile.NamedTemporaryFile(suffix='.json') as out:
        cmd = [sys.executable, osp.abspath(__file__), '--worker', config,
               '--worker-out', out.name, '--iters', str(args.iters),
               '--warmup', str(args.warmup)]
        if args.batch_size:
            cmd += ['--batch-size', str(args.batch_size)]
        if args.model:
            cmd += ['--model', osp.abspath(args.model)]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        env = dict(os.environ)
        if args.device == 'cpu':
            env['CUDA_VISIBLE_DEVICES'] = ''
        run = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                             capture_output=True)
        if run.returncode != 0:
            tail = (run.stdout + run.stderr).strip().splitlines()[-5:]
            return dict(method=method, error=' | '.join(tail))
        with open(out.name) as f:
            return dict(method=method, **json.load(f))


def combine(method: str, rounds: list) -> dict:
    """One row from a method's rounds: medians of time and peak memory, the
    range of the time over the rounds (an error if any round failed)."""
    failed = [r for r in rounds if 'error' in r]
    if failed:
        return failed[0]
    row = dict(rounds[0])
    times = [r['sec_per_iter'] for r in rounds]
    row.update(
        sec_per_iter=statistics.median(times),
        sec_per_iter_rounds=times,
        peak_bytes=statistics.median(r['peak_bytes'] for r in rounds),
        peak_bytes_rounds=[r['peak_bytes'] for r in rounds])
    return row


def _mib(n: float) -> str:
    return f'{n / 2**20:.1f}'


def ensemble_figures() -> dict:
    """Bytes per stored pixel and the total for a Cityscapes-sized target
    set, measured on an allocated memory."""
    import clst_mmseg  # noqa: F401
    from clst_mmseg.models.utils.ensemble_memory import CompactEnsembleMemory
    mem = CompactEnsembleMemory(2975, (64, 128), 19, 0.6)
    return dict(bytes_per_pixel=mem.codes.element_size(),
                cityscapes_pixels=mem.codes.numel(),
                cityscapes_bytes=mem.nbytes)


def _range(row: dict) -> str:
    t = row.get('sec_per_iter_rounds') or [row['sec_per_iter']]
    return f'{min(t):.3f}-{max(t):.3f}'


def report(rows: list, ens: dict, args) -> str:
    ok = {r['method']: r for r in rows if 'error' not in r}
    base = ok.get('source_only')
    lines = []
    dev = sorted({r['device'] for r in ok.values()}) or ['?']
    kind = next(iter(ok.values()))['peak_kind'] if ok else '?'
    bs = sorted({r['batch_size'] for r in ok.values()})
    lines.append(f'task {args.task}, device {"/".join(dev)}, batch {bs}, '
                 f'{args.iters} timed iterations after {args.warmup}, '
                 f'median of {args.repeats} interleaved round(s); model '
                 f'{getattr(args, "model", None) or "of the task configs"}; '
                 f'peak memory = {kind}')
    # columns as wide as the longest name (+1), at least the old widths
    mw = max([18] + [len(r['method']) + 1 for r in rows])
    tw = max([14] + [len(r.get('model_type', '')) + 1 for r in rows])
    header = (f'{"method":<{mw}}{"model":<{tw}}{"s/iter":>9}{"range":>14}'
              f'{"x src":>8}{"peak MiB":>11}{"x src":>8}  steady-state keys')
    lines += [header, '-' * len(header)]
    for r in rows:
        if 'error' in r:
            lines.append(f'{r["method"]:<{mw}}FAILED: {r["error"][:200]}')
            continue
        t_ratio = (f'{r["sec_per_iter"] / base["sec_per_iter"]:.2f}'
                   if base else '-')
        m_ratio = (f'{r["peak_bytes"] / base["peak_bytes"]:.2f}'
                   if base and base['peak_bytes'] > 0 else '-')
        lines.append(
            f'{r["method"]:<{mw}}{r["model_type"]:<{tw}}'
            f'{r["sec_per_iter"]:>9.3f}{_range(r):>14}{t_ratio:>8}'
            f'{_mib(r["peak_bytes"]):>11}{m_ratio:>8}  '
            f'{",".join(r["steady_state_keys"]) or "-"}')
    if 'clst' in ok and 'self_training' in ok:
        ratio = ok['clst']['sec_per_iter'] / ok['self_training'][
            'sec_per_iter']
        lines.append(f'CLST / pure self-training time per iteration: '
                     f'{ratio:.2f} (target <= 1.15)')
    if 'clst' in ok and 'ensemble_bytes' in ok['clst']:
        lines.append(f'CLST ensemble of this task: '
                     f'{ok["clst"]["ensemble_bytes"]} bytes')
    lines.append(
        f'CLST ensemble: {ens["bytes_per_pixel"]} bytes per stored pixel '
        f'(target <= 2); Cityscapes-sized set (2975 images x 64x128 cells, '
        f'DeepLabV2 stride-8 output of 1024x512 inputs): '
        f'{ens["cityscapes_bytes"]} bytes = '
        f'{ens["cityscapes_bytes"] / 1e6:.1f} MB = '
        f'{_mib(ens["cityscapes_bytes"])} MiB (target <= 64 MB)')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        out = run_worker(args)
        with open(args.worker_out, 'w') as f:
            json.dump(out, f)
        return 0
    available = available_methods(args.task)
    methods = args.methods or available
    missing = [m for m in methods if m not in available]
    if missing:
        sys.exit(f'error: no configs/<method>/{args.task}.py for {missing}; '
                 f'available: {available}')
    if 'source_only' not in methods and 'source_only' in available:
        methods = ['source_only'] + methods
    if args.repeats < 1:
        sys.exit(f'error: --repeats must be >= 1, got {args.repeats}')
    rounds = {m: [] for m in methods}
    for i in range(args.repeats):
        for m in methods:
            print(f'round {i + 1}/{args.repeats}: measuring {m} ...',
                  flush=True)
            rounds[m].append(_measure(m, args))
    rows = [combine(m, rounds[m]) for m in methods]
    ens = ensemble_figures()
    text = report(rows, ens, args)
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(rows=rows, ensemble=ens, task=args.task), f,
                      indent=1)
    return 0 if all('error' not in r for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
