"""Slurm execution through submitit: one job array, one run per job.

A job executes :func:`~.run_one.execute` on its node -- the same code as the
local executor -- so records, locks, resume and retry behave the same; a
multi-GPU run is started with torchrun inside its job. Each job is renamed
after its run id once submitted (an array shares one name), so ``squeue``
shows which run a job executes. A job that is preempted or requeued
(``scontrol requeue``) runs again and resumes the run from its last
checkpoint; one that nears its time limit is requeued by submitit (it sends
``USR2`` first) and resumes the same way; a cancelled one resumes when the
suite is run again.

:func:`wait` reads the jobs' states from Slurm (``squeue``, then ``sacct``
for jobs ``squeue`` no longer lists) into the progress view: queued,
running (with the time the job has run, for the ETA), requeued, ended. A
job is over only when Slurm says so (a requeued job's first attempt leaves
a result behind), and an ended job's outcome is its run's record.

:func:`describe_submission` renders what would be submitted (the sbatch
script and which run each array index executes) without a cluster; the
fast tests run the jobs through submitit's ``debug`` executor, the slow
ones on a one-node Slurm cluster (``tests/support/slurm_cluster.py``).
"""
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from .progress import Progress, outcome_note
from .run_one import Outcome, execute
from .spec import RunSpec
from .store import ResultsStore

#: AutoExecutor parameters used unless the suite's ``slurm`` dict says
#: otherwise.
DEFAULTS = dict(timeout_min=24 * 60, nodes=1, tasks_per_node=1,
                cpus_per_task=8, slurm_array_parallelism=64)


def _submitit():
    try:
        import submitit
    except ImportError as e:  # pragma: no cover
        raise ImportError('the Slurm executor needs submitit: '
                          'pip install submitit') from e
    return submitit


def executor_parameters(slurm: Dict, gpus_per_run: int, device: str,
                        name: str) -> Dict:
    """submitit ``AutoExecutor`` parameters of a suite's job array.

    Args:
        slurm (dict): The suite's ``slurm`` dict (generic AutoExecutor names
            such as ``timeout_min``/``mem_gb`` or ``slurm_``-prefixed ones
            such as ``slurm_partition``).
        gpus_per_run (int): GPUs per job (unless ``device='cpu'``).
        device (str): The suite's device.
        name (str): Job name.

    Returns:
        dict: Parameters for ``AutoExecutor.update_parameters``.

    Raises:
        ValueError: A parameter submitit does not know.
    """
    params = dict(DEFAULTS, name=name)
    if device != 'cpu':
        params['gpus_per_node'] = gpus_per_run
    params.update(slurm)
    submitit = _submitit()
    generic = submitit.AutoExecutor._valid_parameters()
    native = submitit.SlurmExecutor._valid_parameters()
    for key in params:
        ok = key in generic or (key.startswith('slurm_')
                                and key[len('slurm_'):] in native)
        if not ok:
            raise ValueError(
                f'slurm: unknown parameter {key!r}; use submitit '
                f'AutoExecutor names {sorted(generic)} or slurm_<x> with x '
                f'in {sorted(native)}')
    return params


def sbatch_parameters(params: Dict) -> Dict:
    """AutoExecutor parameters -> the sbatch names submitit writes."""
    submitit = _submitit()
    from submitit.slurm.slurm import _convert_mem
    equivalent = submitit.SlurmExecutor._equivalence_dict()
    out = {}
    for key, value in params.items():
        if key.startswith('slurm_'):
            out[key[len('slurm_'):]] = value
        elif key in equivalent:
            out[equivalent[key]] = value
    if 'mem' in out and isinstance(out['mem'], (int, float)):
        out['mem'] = _convert_mem(out['mem'])
    return out


def describe_submission(runs: Sequence[RunSpec], params: Dict,
                        folder: str) -> str:
    """What :func:`submit` would send to Slurm, as text.

    Args:
        runs (list[RunSpec]): Runs to submit (one array index each).
        params (dict): :func:`executor_parameters` output.
        folder (str): submitit's log/pickle folder.

    Returns:
        str: Array size, index -> run, the per-run commands and the sbatch
        script.
    """
    from submitit.slurm.slurm import _make_sbatch_string
    n = len(runs)
    lines = [f'Slurm job array of {n} job(s), one run per job, each named '
             f'after its run id once submitted (submitit folder {folder}):']
    for i, r in enumerate(runs):
        devices = 'CPU' if r.device == 'cpu' else f'{r.gpus_per_run} GPU(s)'
        lines.append(f'  [{i}] {r.run_id}  ({r.label}, {devices}, work dir '
                     f'{r.work_dir})')
    if n:
        command = ' '.join([shlex.quote(sys.executable),
                            '-u -m submitit.core._submit',
                            shlex.quote(str(folder))])
        script = _make_sbatch_string(command=command, folder=folder,
                                     map_count=n,
                                     **sbatch_parameters(params))
        lines += ['', 'sbatch script:', script]
    return '\n'.join(lines)


class RunJob:
    """The callable each array job executes. It is checkpointable (submitit
    looks for ``checkpoint``): when the job nears its time limit, submitit
    requeues it and it resumes the run from its last checkpoint."""

    def __call__(self, spec: Dict, retrain: bool = False,
                 retry_diverged: bool = False) -> Dict:
        run = RunSpec.from_dict(spec)
        env = {}
        cpus = os.environ.get('SLURM_CPUS_PER_TASK')
        if run.device == 'cpu' and cpus:  # the cores Slurm gave the job
            env = {'OMP_NUM_THREADS': cpus, 'MKL_NUM_THREADS': cpus}
        # a job Slurm requeued (preemption, scontrol requeue) runs its first
        # submission again: it resumes the run, never trains it anew
        restarted = int(os.environ.get('SLURM_RESTART_COUNT') or 0) > 0
        return execute(run, retrain=retrain and not restarted, env=env,
                       retry_diverged=retry_diverged).as_dict()

    def checkpoint(self, spec: Dict, retrain: bool = False,
                   retry_diverged: bool = False):
        # the requeued job must resume, never retrain from scratch (an
        # interrupted run resumes whatever retry_diverged says)
        return _submitit().helpers.DelayedSubmission(RunJob(), spec, False)


def submit(runs: Sequence[RunSpec], params: Dict, folder: str,
           cluster: Optional[str] = 'slurm', retrain: bool = False,
           retry_diverged: bool = False) -> List:
    """Submit one job array.

    Args:
        runs (list[RunSpec]): Runs to submit.
        params (dict): :func:`executor_parameters` output.
        folder (str): submitit's log/pickle folder.
        cluster (str): ``'slurm'``; ``'local'`` or ``'debug'`` run the same
            jobs without a cluster.
        retrain (bool): Train finished runs again.
        retry_diverged (bool): Retry runs that failed with a non-finite
            loss or weight.

    Returns:
        list[submitit.Job]: One per run.
    """
    submitit = _submitit()
    ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
    ex.update_parameters(**params)
    return ex.map_array(RunJob(), [r.to_dict() for r in runs],
                        [retrain] * len(runs),
                        [retry_diverged] * len(runs))


def name_jobs(jobs: Sequence, runs: Sequence[RunSpec]) -> List[str]:
    """Name each submitted job after its run id (``scontrol update``; the
    tasks of an array share the array's name until renamed).

    Returns:
        list[str]: One line per job Slurm did not rename.
    """
    errors = []
    for job, run in zip(jobs, runs):
        out = subprocess.run(['scontrol', 'update', f'JobId={job.job_id}',
                              f'JobName={run.run_id}'],
                             capture_output=True, text=True)
        if out.returncode != 0:
            errors.append(f'job {job.job_id} ({run.run_id}): '
                          f'{(out.stderr or out.stdout).strip()}')
    return errors


@dataclass
class JobState:
    """A job as Slurm reports it.

    Args:
        state (str): Slurm's state, e.g. ``PENDING``, ``RUNNING``,
            ``CANCELLED``.
        reason (str): Why it is pending (``Resources``, ``BeginTime``,
            ...); empty otherwise.
        elapsed_s (float, optional): How long the job has run.
        node (str): Where it runs.
    """
    state: str
    reason: str = ''
    elapsed_s: Optional[float] = None
    node: str = ''


#: States of a job that is over; any other (PENDING, RUNNING, COMPLETING,
#: REQUEUED, SUSPENDED, ...) may still execute its run. A job Slurm preempts
#: and requeues goes back to PENDING; PREEMPTED is a job it preempted and
#: cancelled.
ENDED = frozenset(('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT',
                   'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE',
                   'PREEMPTED', 'REVOKED', 'SPECIAL_EXIT'))
#: States in which a job's run executes.
RUNNING = frozenset(('RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED',
                     'STOPPED', 'SIGNALING', 'STAGE_OUT'))
#: Polls a job may be missing from squeue and sacct (an ended job squeue
#: forgot, on a cluster without accounting) before it counts as ended.
MISSING_POLLS = 3


def _seconds(text: str) -> Optional[float]:
    """Slurm's ``[days-][hours:]minutes:seconds`` -> seconds."""
    days, _, clock = text.strip().rpartition('-')
    try:
        total = 0
        for part in clock.split(':'):
            total = total * 60 + int(part)
        return float(int(days or 0) * 86400 + total)
    except ValueError:
        return None


def parse_squeue(text: str) -> Dict[str, JobState]:
    """``squeue -h -r -o '%i|%T|%r|%M|%N'`` output -> job id -> state."""
    out = {}
    for line in text.splitlines():
        fields = line.strip().split('|')
        if len(fields) != 5:
            continue
        job_id, state, reason, elapsed, node = fields
        out[job_id] = JobState(state, '' if reason == 'None' else reason,
                               _seconds(elapsed), node)
    return out


def parse_sacct(text: str) -> Dict[str, JobState]:
    """``sacct -n -P -X -o JobID,State,Elapsed,NodeList`` output -> job id
    -> state (``CANCELLED by 0`` -> ``CANCELLED``)."""
    out = {}
    for line in text.splitlines():
        fields = line.strip().split('|')
        if len(fields) != 4:
            continue
        job_id, state, elapsed, node = fields
        out[job_id] = JobState(state.split(' ')[0], '', _seconds(elapsed),
                               node)
    return out


def _run(cmd: List[str]) -> str:
    """A Slurm command's output ('' if it failed: an unknown job id, no
    accounting)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ''
    return out.stdout if out.returncode == 0 else ''


def query_states(job_ids: Sequence[str]) -> Dict[str, JobState]:
    """The states of jobs (``123_4`` for array tasks) from ``squeue``, which
    lists pending, running and recently ended jobs, then from ``sacct``
    (clusters with accounting) for those it does not list. A job neither
    knows is missing from the result.

    Args:
        job_ids (list[str]): Job ids.

    Returns:
        dict: Job id -> :class:`JobState`.
    """
    arrays = ','.join(sorted({j.split('_')[0] for j in job_ids}))
    if not arrays:
        return {}
    states = parse_squeue(_run(['squeue', '-h', '-r', '--states=all', '-j',
                                arrays, '-o', '%i|%T|%r|%M|%N']))
    missing = {j.split('_')[0] for j in job_ids if j not in states}
    if missing:
        known = parse_sacct(_run(['sacct', '-n', '-P', '-X', '-o',
                                  'JobID,State,Elapsed,NodeList', '-j',
                                  ','.join(sorted(missing))]))
        states.update({k: v for k, v in known.items() if k not in states})
    return {j: states[j] for j in job_ids if j in states}


def local_states(jobs: Sequence) -> Dict[str, JobState]:
    """States of jobs that submitit runs without Slurm (``debug``,
    ``local``): completed or running."""
    return {job.job_id: JobState('COMPLETED' if job.done() else 'RUNNING')
            for job in jobs}


def _job_outcome(job, run: RunSpec, state: str) -> Outcome:
    """The outcome of a job that is over: what the job returned if it
    completed, else what its run's record says (a cancelled job's run was
    recorded as interrupted, or left ``running`` by a killed process)."""
    if state == 'COMPLETED' or (state == 'UNKNOWN'
                                and job.paths.result_pickle.exists()):
        try:
            out = job.result()
            return Outcome(out['run_id'], out['label'], out['state'],
                           out['record'])
        except Exception as e:  # the job itself failed (node, submitit)
            return Outcome(run.run_id, run.label, 'failed', dict(
                reason=dict(kind='job_failed', message=str(e)[-500:])))
    store = ResultsStore(run.results_dir)
    rec = store.read(run.task, run.run_id)
    status = store.effective_status(rec)
    why = f'Slurm job {job.job_id} ended {state}'
    if status == 'finished':
        return Outcome(run.run_id, run.label, 'finished', rec)
    if status == 'interrupted':
        return Outcome(run.run_id, run.label, 'interrupted', dict(
            rec, reason=dict(kind='job_ended', message=f'{why}; the run '
                             'resumes from its last checkpoint when the '
                             'suite is run again')))
    if status == 'failed':
        return Outcome(run.run_id, run.label, 'failed', rec)
    return Outcome(run.run_id, run.label, 'failed', dict(reason=dict(
        kind='job_failed', message=f'{why} before its run started (see '
        f'{job.paths.stderr})')))


def _note(job, st: JobState, requeued: bool) -> str:
    """The progress note of a job that is queued or running."""
    where = f' on {st.node}' if st.node and st.state in RUNNING else ''
    why = f' ({st.reason})' if st.reason else ''
    text = f'job {job.job_id} {st.state}{why}{where}'
    if requeued:
        text += '; requeued: the run resumes from its last checkpoint'
    return text


def wait(jobs: List, runs: Sequence[RunSpec], progress: Progress,
         poll_s: float = 30.0, heartbeat_s: float = 60.0,
         states: Optional[Callable[[Sequence], Dict[str, JobState]]] = None
         ) -> List[Outcome]:
    """Wait until every job is over, showing Slurm's states in the progress
    view: PENDING is ``queued`` (with Slurm's reason), a running job is
    ``running`` from the time Slurm says it started (for the ETA), a
    running job seen pending again was requeued, an ended job gives its
    run's outcome. The ETA counts as many runs at once as were seen
    running at once.

    Args:
        jobs (list[submitit.Job]): The submitted jobs.
        runs (list[RunSpec]): Their runs, in the same order.
        progress (Progress): The progress view to update.
        poll_s (float): Seconds between two looks at the jobs.
        heartbeat_s (float): Seconds between two progress lines while
            nothing changes.
        states (callable, optional): Jobs -> job id -> :class:`JobState`.
            Defaults to :func:`query_states` of their ids.

    Returns:
        list[Outcome]: One per run, in order.
    """
    states = states or (lambda js: query_states([j.job_id for j in js]))
    shown: Dict[str, str] = {}  # job id -> progress state shown
    ended: Dict[str, Outcome] = {}
    missing: Dict[str, int] = {}
    progress.slots = 1  # until more are seen running at once
    last_line = time.monotonic()
    while True:
        live = [(j, r) for j, r in zip(jobs, runs) if j.job_id not in ended]
        if not live:
            break
        now = states([j for j, _ in live])
        for job, run in live:
            st = now.get(job.job_id)
            if st is None:
                missing[job.job_id] = missing.get(job.job_id, 0) + 1
                if job.paths.result_pickle.exists() or \
                        missing[job.job_id] >= MISSING_POLLS:
                    st = JobState('UNKNOWN')
                else:
                    continue
            missing.pop(job.job_id, None)
            if st.state in ENDED or st.state == 'UNKNOWN':
                out = ended[job.job_id] = _job_outcome(job, run, st.state)
                progress.set(run, out.state,
                             outcome_note(out.state, out.record))
                last_line = time.monotonic()
                continue
            state = 'running' if st.state in RUNNING else 'queued'
            if shown.get(job.job_id) != state:
                requeued = shown.get(job.job_id) == 'running'
                shown[job.job_id] = state
                if state == 'running':
                    progress.slots = max(progress.slots,
                                         progress.counts()['running'] + 1)
                progress.set(run, state, _note(job, st, requeued),
                             elapsed_s=st.elapsed_s)
                last_line = time.monotonic()
        if len(ended) == len(jobs):
            break
        if time.monotonic() - last_line >= heartbeat_s:
            progress.heartbeat()
            last_line = time.monotonic()
        time.sleep(poll_s)
    return [ended[j.job_id] for j in jobs]
