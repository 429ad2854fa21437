"""Slurm execution through submitit: one job array, one run per job.

A job executes :func:`~.run_one.execute` on its node -- the same code as the
local executor -- so records, locks, resume and retry behave the same; a
multi-GPU run is started with torchrun inside its job. A job that hits its
time limit or is preempted is requeued by submitit and resumes from the
run's last checkpoint.

:func:`describe_submission` renders what would be submitted (the sbatch
script and which run each array index executes) without a cluster; tests
run the jobs through submitit's ``debug`` executor.
"""
import shlex
import sys
import time
from typing import Dict, List, Optional, Sequence

from .progress import Progress
from .run_one import Outcome, execute
from .spec import RunSpec

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
    lines = [f'Slurm job array of {n} job(s), one run per job '
             f'(submitit folder {folder}):']
    for i, r in enumerate(runs):
        lines.append(f'  [{i}] {r.run_id}  ({r.label}, {r.gpus_per_run} '
                     f'GPU(s), work dir {r.work_dir})')
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
    looks for ``checkpoint``): on timeout or preemption the job is requeued
    and resumes the run from its last checkpoint."""

    def __call__(self, spec: Dict, retrain: bool = False,
                 retry_diverged: bool = False) -> Dict:
        return execute(RunSpec.from_dict(spec), retrain=retrain,
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


def wait(jobs: List, runs: Sequence[RunSpec], progress: Progress,
         poll_s: float = 30.0) -> List[Outcome]:
    """Wait for submitted jobs, updating the progress view."""
    shown = {}
    while True:
        done = 0
        for job, run in zip(jobs, runs):
            state = 'running' if job.state in ('RUNNING', 'COMPLETING') \
                else None
            if job.done():
                done += 1
                state = 'done'
            if state and shown.get(run.run_id) != state:
                shown[run.run_id] = state
                if state == 'running':
                    progress.set(run, 'running')
        if done == len(jobs):
            break
        time.sleep(poll_s)
    outcomes = []
    for job, run in zip(jobs, runs):
        try:
            out = job.result()
            outcome = Outcome(out['run_id'], out['label'], out['state'],
                              out['record'])
        except Exception as e:  # the job itself failed (node, submitit)
            outcome = Outcome(run.run_id, run.label, 'failed',
                              dict(reason=dict(kind='job_failed',
                                               message=str(e)[-500:])))
        progress.set(run, outcome.state)
        outcomes.append(outcome)
    return outcomes
