"""Does a suite still measure what it is for? Prints, from the records of a
suite's runs (and of a reference run of it, e.g. the records of the longer
schedule it replaces): the wall time from the first start to the last
finish, both leaderboards side by side, and the signal checks -- baseline
-> upper-bound gap, their seed spread, each method's gain over the baseline
against the reference's within seed noise, and the order of the methods.
The default targets are those of issue #13 (gap >= 20 mIoU, seed std <= 1.5
for source-only and oracle).

Examples::

    python tools/benchmark.py --retrain            # the default suite
    python tools/benchmark_signal.py --reference 4b514d5   # a git revision
    python tools/benchmark_signal.py configs/benchmarks/mini.py \
        --reference /tmp/old_results                        # a results dir

Exit status: 0 when every check passes, 1 when one fails, 2 on bad input.
"""
import argparse
import glob
import json
import os.path as osp
import subprocess
import sys

from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import SuiteError, load_suite
from clst_mmseg.benchmark.suite_checks import (format_duration, method_stats,
                                               side_by_side, signal_checks,
                                               wall_time)

DEFAULT_SUITE = 'configs/benchmarks/mini.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('suite', nargs='?', default=DEFAULT_SUITE)
    p.add_argument('--results-dir', help="override the suite's results_dir")
    p.add_argument('--reference', help='records to compare with: a results '
                   'folder (<dir>/<task>/records/*.json) or a git revision '
                   'of this repository (its results/<task>/records/)')
    p.add_argument('--metric', default='mIoU')
    p.add_argument('--min-gap', type=float, default=20.0,
                   help='least upper-bound - baseline gap (default: 20)')
    p.add_argument('--max-std', type=float, default=1.5,
                   help='largest seed std of baseline and upper bound '
                   '(default: 1.5)')
    p.add_argument('--z', type=float, default=2.0,
                   help='standard errors that count as seed noise '
                   '(default: 2)')
    return p.parse_args(argv)


def reference_records(ref: str, task: str) -> list:
    """Records of ``task`` in a results folder or a git revision."""
    if osp.isdir(ref):
        out = []
        for path in sorted(glob.glob(osp.join(ref, task, 'records',
                                              '*.json'))):
            with open(path) as f:
                out.append(json.load(f))
        return out
    folder = f'results/{task}/records/'
    try:
        names = subprocess.run(
            ['git', 'ls-tree', '--name-only', f'{ref}:{folder}'], text=True,
            capture_output=True, check=True).stdout.split()
    except subprocess.CalledProcessError as e:
        raise ValueError(f'--reference {ref}: neither a folder nor a git '
                         f'revision with {folder} ({e.stderr.strip()})')
    return [
        json.loads(subprocess.run(['git', 'show', f'{ref}:{folder}{n}'],
                                  text=True, capture_output=True,
                                  check=True).stdout)
        for n in names if n.endswith('.json')
    ]


def _wall_line(label: str, records: list) -> str:
    wall = wall_time(records)
    if wall is None:
        return f'{label}: no finished run'
    return (f'{label}: {wall["runs"]} finished run(s), '
            f'{format_duration(wall["seconds"])} wall from the first start '
            f'to the last finish; a run took {wall["run_mean_s"]:.1f} s on '
            f'average ({format_duration(wall["run_sum_s"])} in all)')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        suite = load_suite(args.suite, results_dir=args.results_dir)
        store = ResultsStore(suite.results_dir)
        status = 0
        for task in suite.tasks:
            runs = [r for r in suite.runs if r.task == task]
            new = [rec for rec in (store.read(task, r.run_id) for r in runs)
                   if rec is not None]
            ref = None
            if args.reference:
                # records name their suite relative to the folder the
                # benchmark ran in (the repository root, like this tool)
                ref = [r for r in reference_records(args.reference, task)
                       if r.get('suite') and osp.abspath(r['suite']) ==
                       osp.abspath(suite.path)]
            print(f'suite {osp.relpath(suite.path)}, task {task}, '
                  f'metric {args.metric}')
            print(_wall_line('this suite', new))
            if ref is not None:
                print(_wall_line(f'reference ({args.reference})', ref))
            base = suite.options['baselines'][0]
            upper = suite.options['upper_bounds'][0]
            new_stats = method_stats(new, args.metric)
            ref_stats = method_stats(ref, args.metric) if ref else None
            print()
            print(side_by_side(new_stats, ref_stats,
                               [(m.name, m.title) for m in suite.methods],
                               base))
            print()
            methods = [m.name for m in suite.methods
                       if m.name not in (base, upper)]
            checks = signal_checks(new_stats, ref_stats, methods, base, upper,
                                   args.min_gap, args.max_std, args.z)
            for check in checks:
                print(check.line())
            if not all(c.passed for c in checks):
                status = 1
        return status
    except (SuiteError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
