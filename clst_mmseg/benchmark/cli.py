"""``tools/benchmark.py``: run a suite, then build its leaderboards."""
import argparse
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import DictAction

from clst_mmseg.apis.os_errors import os_error_line
from .execute_local import parse_gpus, run_local, slots_for
from .preflight import failed, format_table, needs_preflight, preflight
from .progress import Progress
from .protocol_cards import protocol_summary
from .provenance import foreign_tree_warning
from .identity import files_text, stale_reason
from .run_one import code_changed_since, plan_action
from .spec import RunSpec
from .store import ResultsStore
from .suite import SuiteError, load_suite, select
from .suite_checks import format_duration

DEFAULT_SUITE = 'configs/benchmarks/default.py'
_STATUS = dict(run='to run', reuse='done', retrain='retrain',
               stale='stale', keep_stale='done, stale', busy='running',
               resume='resume', restart='restart', retry='retry',
               diverged='diverged')
#: Plan actions that execute nothing.
_IDLE = ('reuse', 'keep_stale', 'busy', 'diverged')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Run a benchmark suite (tasks x methods x seeds), '
        'reusing finished runs, then write its leaderboards.')
    p.add_argument('suite', nargs='?', default=DEFAULT_SUITE,
                   help=f'suite file (default: {DEFAULT_SUITE})')
    p.add_argument('--dry-run', action='store_true',
                   help='list the runs and which are done; run nothing')
    p.add_argument('--report-only', action='store_true',
                   help='rebuild the tables and plots from stored records')
    p.add_argument('--preflight', action='store_true',
                   help='check what the runs to execute need (data '
                   'complete and converted, class statistics, weights that '
                   'load, GPU memory, disk) and exit: 0 if nothing fails. '
                   'A real run of a suite that reads downloaded data or '
                   'weights does this first and stops on a failure')
    p.add_argument('--skip-preflight', action='store_true',
                   help='execute without the pre-flight checks')
    p.add_argument('--only', nargs='+', action='extend', default=[],
                   metavar='PATTERN',
                   help='execute only runs matching a pattern (task, method,'
                   ' task/method, task/method/sSEED or run id; shell '
                   'wildcards)')
    p.add_argument('--skip', nargs='+', action='extend', default=[],
                   metavar='PATTERN', help='do not execute matching runs')
    p.add_argument('--retrain', action='store_true',
                   help='train finished runs again (old records are kept '
                   'in the new record\'s attempts)')
    p.add_argument('--keep-stale', action='store_true',
                   help='keep finished runs whose code has changed since '
                   '(or whose record has no code fingerprint) instead of '
                   'training them again; the tables mark them')
    p.add_argument('--retry-diverged', action='store_true',
                   help='retry runs that failed with a non-finite loss or '
                   'weight (left alone otherwise: the same config and seed '
                   'diverge again)')
    p.add_argument('--gpus', help="run in parallel, one run per GPU group: "
                   "'all' or ids like '0,1,2,3'")
    p.add_argument('--jobs', type=int, metavar='N',
                   help="without --gpus: N runs at once on the CPU, the "
                   "cores split between them (default: the suite's "
                   "cpu_jobs)")
    p.add_argument('--num-seeds', type=int, metavar='N',
                   help="run seeds 0 .. N-1 instead of the suite's seeds")
    p.add_argument('--device', choices=['cpu', 'cuda', 'auto'],
                   help="override the suite's device")
    p.add_argument('--executor', choices=['local', 'slurm'],
                   default='local', help='where runs execute')
    p.add_argument('--slurm-cluster', choices=['slurm', 'local', 'debug'],
                   default='slurm', help=argparse.SUPPRESS)
    p.add_argument('--poll-s', type=float, default=30.0, metavar='S',
                   help='slurm: seconds between two looks at the jobs\' '
                   'states (default: 30)')
    p.add_argument('--no-wait', action='store_true',
                   help='slurm: submit and exit (report later with '
                   '--report-only)')
    p.add_argument('--results-dir', help="override the suite's results_dir")
    p.add_argument('--work-dir', help="override the suite's work_dir")
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='overrides added to every run of the suite '
                   '(they change the runs\' ids)')
    return p.parse_args(argv)


def describe_plan(suite, runs: List[RunSpec], store: ResultsStore,
                  retrain: bool, retry_diverged: bool = False,
                  keep_stale: bool = False) -> str:
    """The ``--dry-run`` listing."""
    n_methods = len({r.method for r in suite.runs})
    lines = [
        f'suite {suite.path}: {len(suite.runs)} runs ({len(suite.tasks)} '
        f'task(s) x {n_methods} method(s) x {len(suite.seeds)} seed(s)); '
        f'{len(runs)} selected',
        f'records: {osp.relpath(suite.results_dir)}/<task>/records/, '
        f'work dirs: {osp.relpath(suite.work_dir)}/<task>/<run id>/'
    ]
    rows = []
    counts: Dict[str, int] = {}
    for r in runs:
        action, rec = plan_action(store, r, retrain, retry_diverged,
                                  keep_stale)
        counts[action] = counts.get(action, 0) + 1
        why = ''
        if action in ('stale', 'keep_stale'):
            why = stale_reason(rec) + ('; kept (--keep-stale)' if
                                       action == 'keep_stale' else '')
        elif action == 'resume' and rec is None:
            why = ('no valid record; its work dir has a checkpoint to '
                   'resume from')
        elif action == 'diverged':
            reason = rec.get('reason') or {}
            why = (f'failed: {reason.get("kind")}: {reason.get("message")}; '
                   'not retried without --retry-diverged')
        elif action in ('resume', 'restart', 'retry') and rec:
            if rec['status'] == 'running':  # nobody holds its lock: dead
                why = ('interrupted: lost: the process executing it died '
                       'without a final record')
            else:
                reason = rec.get('reason') or {}
                why = (f'{rec["status"]}: {reason.get("kind")}: '
                       f'{reason.get("message")}')
        changed = code_changed_since(r.work_dir) \
            if action in ('run', 'restart', 'retry') else []
        if changed:
            why += ('; ' if why else '') + (
                f'its work dir is from other code (changed: '
                f'{files_text(changed)}): from scratch')
        rows.append((_STATUS[action], r.label, r.run_id, r.config_display,
                     why, protocol_summary(r.resolved_config,
                                           suite.method(r.method).reference)))
    w = [max([len(x[i]) for x in rows] + [len(h)]) for i, h in enumerate(
        ('status', 'run', 'run id', 'config'))]
    lines.append('  '.join(h.ljust(w[i]) for i, h in enumerate(
        ('status', 'run', 'run id', 'config'))) + '  protocol')
    for row in rows:
        text = '  '.join(row[i].ljust(w[i]) for i in range(4))
        lines.append((text + '  ' + row[5] +
                      ('  (' + row[4] + ')' if row[4] else '')).rstrip())
    todo = sum(v for k, v in counts.items() if k not in _IDLE)
    lines.append(f'{counts.get("reuse", 0)} done, {todo} to execute, '
                 f'{counts.get("busy", 0)} running elsewhere' +
                 (f', {counts["diverged"]} diverged (not retried)'
                  if counts.get('diverged') else '') +
                 (f', {counts["stale"]} of them stale (their code changed '
                  'since; --keep-stale keeps them)'
                  if counts.get('stale') else '') +
                 (f', {counts["keep_stale"]} stale kept (--keep-stale)'
                  if counts.get('keep_stale') else ''))
    return '\n'.join(lines)


def _action(store: ResultsStore, run: RunSpec,
            args: argparse.Namespace) -> str:
    """:func:`~.run_one.plan_action` of a run under the command's flags."""
    return plan_action(store, run, args.retrain, args.retry_diverged,
                       args.keep_stale)[0]


def _priors(store: ResultsStore, runs: Sequence[RunSpec]) -> Dict:
    times: Dict = {}
    for r in runs:
        rec = store.read(r.task, r.run_id)
        if rec and rec.get('status') == 'finished' and rec.get(
                'wall_time_s'):
            times.setdefault((r.task, r.method), []).append(
                rec['wall_time_s'])
    return {k: sum(v) / len(v) for k, v in times.items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status (0: every selected run is
    finished, 1: some failed, diverged, were interrupted or are still
    executed by another process, 2: bad input, a failed pre-flight or a
    results / work folder that cannot be written)."""
    args = parse_args(argv)
    try:
        suite = load_suite(args.suite, extra_overrides=args.cfg_options,
                           results_dir=args.results_dir,
                           work_dir=args.work_dir, device=args.device,
                           cpu_jobs=args.jobs, num_seeds=args.num_seeds)
        runs = select(suite.runs, args.only, args.skip)
        gpus = parse_gpus(args.gpus)
        if gpus and suite.options['device'] == 'cpu':
            raise SuiteError(f'--gpus: suite {suite.path} runs on the CPU '
                             "(device='cpu'); add --device cuda")
        slots = slots_for(gpus, suite.options['gpus_per_run'],
                          suite.options['cpu_jobs'])
        params = None
        if args.executor == 'slurm':
            from .execute_slurm import executor_parameters
            params = executor_parameters(
                suite.options['slurm'], suite.options['gpus_per_run'],
                suite.options['device'],
                f'benchmark-{osp.splitext(osp.basename(suite.path))[0]}')
    except (SuiteError, ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    store = ResultsStore(suite.results_dir,
                         readonly=args.dry_run or args.preflight)
    folder = osp.join(suite.work_dir, 'submitit')
    if not args.report_only:
        warning = foreign_tree_warning()
        if warning:
            print(warning, file=sys.stderr, flush=True)

    if args.preflight:
        return run_preflight(suite, runs, store, args, gpus)

    if args.dry_run:  # reads only: works on a read-only results folder
        print(describe_plan(suite, runs, store, args.retrain,
                            args.retry_diverged, args.keep_stale))
        todo = [r for r in runs if _action(store, r, args) not in _IDLE]
        if args.executor == 'slurm':
            from .execute_slurm import describe_submission
            print()
            print(describe_submission(todo, params, folder))
        if needs_preflight(todo):
            print(f'these runs read downloaded data or weights: check them '
                  f'with tools/benchmark.py {suite.path} --preflight')
        return 0

    status = 0
    if not args.report_only:
        plan = {r.run_id: _action(store, r, args) for r in runs}
        todo = [r for r in runs if plan[r.run_id] not in _IDLE]
        if not args.skip_preflight and needs_preflight(todo):
            rows = preflight(suite, todo, args.executor, gpus)
            print(format_table(rows), flush=True)
            if failed(rows):
                print('error: pre-flight failed; nothing was executed '
                      '(--skip-preflight runs anyway)', file=sys.stderr)
                return 2
        try:
            check_folders(suite, runs, store)
        except OSError as e:
            print(f'error: {os_error_line(e)}', file=sys.stderr)
            return 2
        progress = Progress(runs, len(slots), _priors(store, runs))
        for r in runs:
            progress.state[r.run_id] = dict(
                reuse='reused', keep_stale='reused', busy='busy',
                diverged='failed').get(plan[r.run_id], 'pending')
        print(progress.grid(), flush=True)
        print(progress.summary(), flush=True)
        started = time.monotonic()
        try:
            if args.executor == 'local':
                outcomes = run_local(todo, gpus=gpus,
                                     gpus_per_run=suite.options[
                                         'gpus_per_run'],
                                     retrain=args.retrain, progress=progress,
                                     cpu_jobs=suite.options['cpu_jobs'],
                                     retry_diverged=args.retry_diverged)
            else:
                from .execute_slurm import (local_states, name_jobs,
                                            submit, wait)
                jobs = submit(todo, params, folder, args.slurm_cluster,
                              args.retrain, args.retry_diverged)
                slurm = args.slurm_cluster == 'slurm'
                unnamed = name_jobs(jobs, todo) if slurm else []
                for job, r in zip(jobs, todo):
                    print(f'submitted {r.label} as job {job.job_id}' +
                          (f' (name {r.run_id})' if slurm else ''))
                for line in unnamed:
                    print(f'warning: not named after its run: {line}',
                          file=sys.stderr)
                if args.no_wait:
                    print('submitted; build the tables later with '
                          f'tools/benchmark.py {suite.path} --report-only')
                    return 0
                outcomes = wait(jobs, todo, progress,
                                poll_s=args.poll_s if slurm else 1,
                                states=None if slurm else local_states)
        except KeyboardInterrupt:
            print('interrupted', file=sys.stderr)
            return 130
        except OSError as e:  # a record that cannot be written: disk full
            print(f'error: {os_error_line(e)}', file=sys.stderr)
            return 1
        print(progress.grid(), flush=True)
        print(f'executed {len(todo)} run(s) in '
              f'{format_duration(time.monotonic() - started)} (wall)',
              flush=True)
        status = report_unfinished(runs, plan, outcomes, store)
    from .publish import publish  # pandas, matplotlib: only for the tables
    try:
        publish(suite, store)
    except OSError as e:
        print(f'error: {os_error_line(e)}', file=sys.stderr)
        return 1
    return status


def run_preflight(suite, runs: Sequence[RunSpec], store: ResultsStore,
                  args: argparse.Namespace,
                  gpus: Optional[List[str]]) -> int:
    """``--preflight``: the table of the runs that would execute; 2 if a
    check failed, else 0."""
    todo = [r for r in runs if _action(store, r, args) not in _IDLE]
    print(f'suite {suite.path}: {len(todo)} of {len(runs)} selected run(s) '
          f'to execute ({args.executor})')
    rows = preflight(suite, todo, args.executor, gpus)
    print(format_table(rows))
    return 2 if failed(rows) else 0


def check_folders(suite, runs: Sequence[RunSpec],
                  store: ResultsStore) -> None:
    """Create the records and work-dir folders of the selected runs' tasks
    and write a probe file, so that a read-only results folder or a work
    dir that cannot be created stops the benchmark before anything runs.

    Raises:
        OSError: Naming the folder.
    """
    for task in dict.fromkeys(r.task for r in runs):
        store.check_writable(task)
        path = osp.join(suite.work_dir, task)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise OSError(e.errno, f'work dir cannot be created: '
                          f'{e.strerror}', path) from None


def report_unfinished(runs: Sequence[RunSpec], plan: Dict[str, str],
                      outcomes: Sequence, store: ResultsStore) -> int:
    """One line on stderr per selected run that is not finished: failed,
    interrupted, diverged and left alone, or executed by another process
    that has not finished it.

    Returns:
        int: 1 if there is such a run, else 0.
    """
    state = {o.run_id: o for o in outcomes}
    bad = 0
    for r in runs:
        out = state.get(r.run_id)
        if out is not None and out.state in ('failed', 'interrupted'):
            reason = (out.record or {}).get('reason') or {}
            note = ('; not retried without --retry-diverged'
                    if plan[r.run_id] == 'diverged' else '')
            print(f'{r.label}: {out.state}: {reason.get("kind")}: '
                  f'{reason.get("message")}{note}', file=sys.stderr)
            bad += 1
        elif plan[r.run_id] == 'diverged':
            reason = (store.read(r.task, r.run_id) or {}).get('reason') or {}
            print(f'{r.label}: failed: {reason.get("kind")}: '
                  f'{reason.get("message")}; not retried without '
                  '--retry-diverged', file=sys.stderr)
            bad += 1
        elif plan[r.run_id] == 'busy' or (out is not None
                                          and out.state == 'busy'):
            rec = store.read(r.task, r.run_id) or {}
            if rec.get('status') != 'finished':
                print(f'{r.label}: executed by another process (pid '
                      f'{rec.get("pid")} on {rec.get("host")}), not '
                      'finished yet', file=sys.stderr)
                bad += 1
    return 1 if bad else 0
