"""Local execution: runs one after another, or in parallel across GPUs
(one run per device group) or CPU slots (cores split between them)."""
import concurrent.futures as cf
import queue
import signal
import subprocess
import threading
from typing import List, Optional, Sequence

from ..apis.threads import cpu_threads
from .progress import Progress, outcome_note
from .run_one import STOP, Outcome, execute
from .spec import RunSpec


def parse_gpus(text: Optional[str]) -> Optional[List[str]]:
    """``--gpus``: None (no parallelism), ``'all'`` (every GPU nvidia-smi
    lists) or ``'0,1,3'``.

    Returns:
        list[str] | None: Device ids.
    """
    if text is None:
        return None
    if text == 'all':
        try:
            out = subprocess.run(['nvidia-smi', '-L'], capture_output=True,
                                 text=True, timeout=30).stdout
        except OSError:
            out = ''
        ids = [str(i) for i, ln in enumerate(out.splitlines())
               if ln.startswith('GPU ')]
        if not ids:
            raise ValueError('--gpus all: nvidia-smi lists no GPU')
        return ids
    ids = [t.strip() for t in text.split(',') if t.strip()]
    if not ids or not all(i.isdigit() for i in ids) or \
            len(set(ids)) != len(ids):
        raise ValueError(f"--gpus: expected 'all' or distinct device ids "
                         f"like '0,1,2', got {text!r}")
    return ids


def slots_for(gpus: Optional[List[str]],
              gpus_per_run: int,
              cpu_jobs: int = 1) -> List[Optional[List[str]]]:
    """Device groups that each execute one run at a time (``cpu_jobs``
    slots without devices when no GPU is given)."""
    if not gpus:
        return [None] * max(1, cpu_jobs)
    if len(gpus) < gpus_per_run:
        raise ValueError(f'--gpus gives {len(gpus)} device(s) but a run '
                         f'needs {gpus_per_run} (gpus_per_run)')
    n = len(gpus) // gpus_per_run
    return [gpus[i * gpus_per_run:(i + 1) * gpus_per_run] for i in range(n)]


def run_local(runs: Sequence[RunSpec],
              gpus: Optional[List[str]] = None,
              gpus_per_run: int = 1,
              retrain: bool = False,
              progress: Optional[Progress] = None,
              heartbeat_s: float = 60.0,
              cpu_jobs: int = 1,
              retry_diverged: bool = False) -> List[Outcome]:
    """Execute runs here, one per device group at a time.

    Ctrl-C (or SIGTERM) stops the runs in flight; they are recorded as
    interrupted and resume on the next invocation.

    Args:
        runs (list[RunSpec]): Runs to execute (finished ones are reused).
        gpus (list[str], optional): Devices to spread runs over; None runs
            them one after another with the environment's devices.
        gpus_per_run (int): Devices per run.
        cpu_jobs (int): Without ``gpus``: runs at once; CPU runs get
            ``OMP_NUM_THREADS`` = cores // cpu_jobs.
        retrain (bool): Train finished runs again.
        retry_diverged (bool): Retry runs that failed with a non-finite
            loss or weight.
        progress (Progress, optional): Progress view to update.
        heartbeat_s (float): Seconds between two progress lines while
            nothing changes.

    Returns:
        list[Outcome]: One per run, in order.
    """
    slots = slots_for(gpus, gpus_per_run, cpu_jobs)
    threads = None if gpus else str(cpu_threads(len(slots)))
    STOP.clear()
    progress = progress or Progress(runs, len(slots))
    free: 'queue.Queue' = queue.Queue()
    for s in slots:
        free.put(s)

    def work(spec: RunSpec) -> Outcome:
        slot = free.get()
        try:
            if STOP.is_set():
                return Outcome(spec.run_id, spec.label, 'interrupted')
            env = {}
            if slot:
                env = {'CUDA_VISIBLE_DEVICES': ','.join(slot)}
            elif spec.device == 'cpu':  # GPU runs keep torchrun's default
                env = {'OMP_NUM_THREADS': threads, 'MKL_NUM_THREADS': threads}
            progress.set(spec, 'running')
            try:
                out = execute(spec, retrain=retrain, env=env,
                              retry_diverged=retry_diverged)
            except OSError as e:  # a disk that cannot take the record:
                # the whole benchmark stops (one line, in the caller)
                progress.set(spec, 'failed', f'{type(e).__name__}: {e}')
                raise
            except Exception as e:  # noqa: BLE001
                # the harness itself failed on this run (before its record
                # was written): this run fails, the others go on
                out = Outcome(spec.run_id, spec.label, 'failed', dict(
                    reason=dict(kind='benchmark_error',
                                message=f'{type(e).__name__}: {e}')))
            progress.set(spec, out.state,
                         outcome_note(out.state, out.record))
            return out
        finally:
            free.put(slot)

    previous = signal.getsignal(signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()

    def on_term(signum, frame):
        raise KeyboardInterrupt('SIGTERM')

    if in_main:
        signal.signal(signal.SIGTERM, on_term)
    pool = cf.ThreadPoolExecutor(max_workers=len(slots))
    try:
        futures = [pool.submit(work, r) for r in runs]
        pending = set(futures)
        while pending:
            _, pending = cf.wait(pending, timeout=heartbeat_s)
            if pending:
                progress.heartbeat()
        return [f.result() for f in futures]
    except KeyboardInterrupt:
        STOP.set()
        progress._print('stopping: the runs in flight are terminated and '
                        'recorded as interrupted (they resume next time)')
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        if in_main:
            signal.signal(signal.SIGTERM, previous)
