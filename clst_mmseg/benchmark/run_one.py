"""Execute one run -- train, evaluate the chosen checkpoint, record -- on
whatever machine calls it (the local executor's threads and the Slurm jobs
share this code; only the submission differs).

A run is ``tools/train.py`` as a subprocess. Its validation after the last
iteration (and every ``val_interval``) evaluates the checkpoint the record
names, and ``--val-metrics-dir`` makes it write those metrics to
``<work_dir>/val_metrics/iter_<N>.json``, which the record takes. Only when
the training did not evaluate that checkpoint as ``tools/test.py`` would
(no validation at its iteration, or val and test dataloaders, evaluators or
loops that differ) does ``tools/test.py`` evaluate it in a second process.
Console output goes to ``<work_dir>/train.log`` (and ``test.log``). The record
says ``running`` while they run, then ``finished``, ``failed`` (exception,
NaN loss, non-zero exit, no checkpoint, evaluation failed) or
``interrupted`` (the training was killed by a signal or stopped by the
user; a record left ``running`` by a process that died counts too).
Interrupted and failed runs resume from the newest checkpoint of their work
dir that loads on the next invocation (so does a run without a valid
record whose work dir has one), unless the config the training dumped there
is not the run's; diverged ones (a non-finite loss or weight: retrying the
same config and seed diverges again) are retried, from scratch, only when
asked (``retry_diverged``); finished ones are reused unless ``retrain`` or
stale (the code that trained them has changed since, or their record has no
code fingerprint: :func:`~.identity.stale_reason`), which trains them again
from scratch unless ``keep_stale``. A run resumes only with the code that
wrote its checkpoint (the fingerprint an earlier attempt left in the work
dir): resuming with other code would mix two codes in one run, so it starts
from scratch instead. The record keeps the training's code fingerprint
(``code``) and the sizes of the data and weights files the config names
(``inputs``).
Every attempt is logged in the run's attempt ledger
(``<task>/attempts/<run_id>.jsonl``), summarised in the record's
``attempts``, and ``compute_time_s`` sums the wall time of this attempt and
of every attempt since the last retrain, whatever became of their records
(a lost attempt's time is estimated from the last file it wrote).
"""
import datetime
import json
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from clst_mmseg.code_fingerprint import changed_files, read_fingerprint

from . import workdir as wd
from .identity import stale_reason
from .initialisation import init_used
from .input_files import input_files
from .provenance import (PACKAGE_ROOT, config_files, git_info, hardware,
                         portable_command, repo_relative, versions)
from .spec import RunSpec
from .store import ResultsStore

#: Set by an executor to stop every run of this process (Ctrl-C, SIGTERM).
STOP = threading.Event()
#: Seconds between two looks for a NaN loss in a running training.
WATCH_S = 10.0
#: Seconds a stopped child gets between SIGTERM and SIGKILL.
TERM_GRACE_S = 30.0
#: Folder of the work dir where the training writes its validation metrics.
VAL_METRICS_DIR = 'val_metrics'

_SUMMARY_KEYS = ('status', 'reason', 'started_at', 'finished_at', 'host',
                 'resumed', 'iterations', 'wall_time_s', 'metrics',
                 'per_class_iou', 'checkpoint', 'git', 'config_hash')
#: Failure kinds of a run that diverged (not retried unless asked).
DIVERGED = ('nan_loss', 'nonfinite_weights')


@dataclass
class Outcome:
    """What :func:`execute` did.

    Args:
        run_id (str): The run.
        label (str): ``task/method/sSEED``.
        state (str): ``finished``, ``failed``, ``interrupted``, ``reused``
            (finished before; not run again) or ``busy`` (another process
            executes it).
        record (dict, optional): The run's record.
    """
    run_id: str
    label: str
    state: str
    record: Optional[Dict] = None

    def as_dict(self) -> Dict:
        return dict(run_id=self.run_id, label=self.label, state=self.state,
                    record=self.record)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')


def diverged(record: Optional[Dict]) -> bool:
    """Whether a record is a run that failed with a non-finite loss or
    weight."""
    return bool(record) and record.get('status') == 'failed' and (
        record.get('reason') or {}).get('kind') in DIVERGED


def plan_action(store: ResultsStore, spec: RunSpec,
                retrain: bool = False,
                retry_diverged: bool = False,
                keep_stale: bool = False) -> Tuple[str, Optional[Dict]]:
    """What executing ``spec`` would do now.

    Returns:
        tuple: ``(action, record)``; action is ``run`` (no record),
        ``reuse``, ``retrain``, ``stale`` (finished by code that has changed
        since: trained again, from scratch), ``keep_stale`` (the same, kept
        because of ``keep_stale``), ``busy``, ``resume`` (see
        :func:`resumes`), ``restart`` (interrupted, nothing to resume),
        ``retry`` (failed: from scratch) or ``diverged`` (failed with a
        non-finite loss/weight: left alone unless ``retry_diverged``).
    """
    rec = store.read(spec.task, spec.run_id)
    if store.is_locked(spec.task, spec.run_id):
        return 'busy', rec
    status = store.effective_status(rec)
    if status == 'finished':
        if retrain:
            return 'retrain', rec
        if stale_reason(rec) is None:
            return 'reuse', rec
        return ('keep_stale' if keep_stale else 'stale'), rec
    if diverged(rec) and not retry_diverged:
        return 'diverged', rec
    if resumes(spec, status, rec):
        return 'resume', rec
    return dict(interrupted='restart', failed='retry').get(status,
                                                          'run'), rec


def resumes(spec: RunSpec, status: Optional[str],
            record: Optional[Dict]) -> bool:
    """Whether the next attempt of a run continues from the newest
    checkpoint of its work dir that loads (``tools/train.py --resume``)
    rather than from scratch.

    It does when the run has no valid record, was interrupted or failed
    (an exception, a full disk, an evaluation that failed: nothing that
    the same weights would repeat), its work dir has a checkpoint, the
    config the training dumped there is the run's (or none was dumped) and
    the code an earlier attempt ran there is the code as it is now
    (:func:`code_changed_since`). A retrain of a finished run, a retried
    diverged one (its last checkpoint leads to the same divergence:
    resuming is bit-exact) and a run whose dumped config or code differs
    start from scratch.

    Args:
        spec (RunSpec): The run.
        status (str, optional): Its record's effective status (None: no
            valid record).
        record (dict, optional): Its record.
    """
    if status == 'finished' or diverged(record):
        return False
    return wd.last_checkpoint(spec.work_dir) is not None and \
        _verify_config(spec) is not False and \
        not code_changed_since(spec.work_dir)


def code_changed_since(work_dir: str) -> List[str]:
    """The files of the code an earlier attempt ran in ``work_dir`` (the
    fingerprint its training left there) that differ now or are gone
    (empty: the same code, or no fingerprint to tell)."""
    code = read_fingerprint(work_dir)
    return changed_files(code) if code else []


def _elapsed_until_last_write(prev: Dict, work_dir: str) -> Optional[float]:
    """Seconds from an attempt's start to the last file written in the work
    dir: the time of an attempt whose process died without a final
    record."""
    last = wd.last_activity(work_dir)
    try:
        start = datetime.datetime.fromisoformat(prev['started_at'])
    except (KeyError, TypeError, ValueError):
        return None
    if last is None:
        return None
    return max(0.0, last - start.timestamp())


def _summary(prev: Dict, lost: bool, work_dir: str = '') -> Dict:
    out = {k: prev.get(k) for k in _SUMMARY_KEYS}
    # a record holds the fingerprint, a ledger entry (a summary) its hash
    out['code_sha256'] = (prev.get('code') or {}).get('sha256') \
        if 'code' in prev else prev.get('code_sha256')
    out['wall_time_estimated'] = False
    if lost:
        out['status'] = 'interrupted'
        out['reason'] = dict(
            kind='lost', message='the process executing the run stopped '
            'without writing a final record (killed, node failure)')
    if out.get('wall_time_s') is None and work_dir:
        out['wall_time_s'] = _elapsed_until_last_write(prev, work_dir)
        out['wall_time_estimated'] = out['wall_time_s'] is not None
    return out


#: The repository this package lives in: record paths are relative to it,
#: and its git state is the code that runs.
_REPO = PACKAGE_ROOT


def _display(path: str) -> str:
    """Paths are recorded relative to the repository (see
    :func:`~.provenance.repo_relative`)."""
    return repo_relative(path, _REPO)


def _compute_time(wall: float, history: List[Dict],
                  new_count: bool) -> float:
    """Wall time of this attempt plus every earlier attempt since the last
    one that started a new count (a ``--retrain``): resumed, retried, lost,
    set aside with its record, all of it was spent on this result.

    Args:
        wall (float): This attempt's wall time.
        history (list[dict]): The earlier attempts (:func:`attempt_history`).
        new_count (bool): This attempt starts a new count.
    """
    total = wall
    for prev in ([] if new_count else reversed(history)):
        total += prev.get('wall_time_s') or 0.0
        if prev.get('new_count'):
            break
    return total


#: What a result holds that the record checks (moved into the reason of
#: an ``invalid_result``).
_RESULT_KEYS = ('metrics', 'per_class_iou', 'curve', 'trajectory',
                'train_curve')
#: Ledger keys that are not part of an attempt's summary in the record.
_LEDGER_ONLY = ('event', 'pid')


def _ledger_attempts(entries: List[Dict]) -> List[Dict]:
    """The ledger's entries merged per attempt (start, then its end), in
    the order the attempts started."""
    merged: Dict[str, Dict] = {}
    for entry in entries:
        merged.setdefault(entry['attempt'], {}).update(entry)
    return list(merged.values())


def attempt_history(store: ResultsStore, spec: RunSpec,
                    prev: Optional[Dict]) -> List[Dict]:
    """Every earlier attempt of a run, from its ledger (the caller holds the
    run's lock, so none is in flight).

    An attempt whose process died before its end entry is closed now as
    lost, its time estimated from the last file it wrote. A run whose
    ledger is empty but whose record lists attempts (written before the
    ledger existed) has them copied into the ledger first.

    Returns:
        list[dict]: One summary per attempt, oldest first; ``new_count``
        marks an attempt that started a new compute count (a retrain).
    """
    log = store.attempt_log(spec.task, spec.run_id)
    if not log and prev is not None:
        earlier = list(prev.get('attempts') or []) + [
            _summary(prev, prev['status'] == 'running', spec.work_dir)]
        for i, summary in enumerate(earlier):
            entry = dict(summary, event='end', attempt=f'record-{i}',
                         new_count=i > 0 and
                         earlier[i - 1].get('status') == 'finished')
            store.log_attempt(spec.task, spec.run_id, entry)
        log = store.attempt_log(spec.task, spec.run_id)
    history = _ledger_attempts(log)
    for i, attempt in enumerate(history):
        if attempt.get('event') == 'end':
            continue
        # no end entry: the process died (or its last writes failed)
        own = prev is not None and prev.get('attempt') == attempt['attempt']
        summary = _summary(
            prev if own else attempt,
            lost=not own or prev['status'] == 'running',
            work_dir=spec.work_dir if i == len(history) - 1 else '')
        end = dict(summary, event='end', attempt=attempt['attempt'])
        store.log_attempt(spec.task, spec.run_id, end)
        attempt.update(end)
    return [{k: v for k, v in a.items() if k not in _LEDGER_ONLY}
            for a in history]


def _child_env(spec: RunSpec, env: Optional[Dict]) -> Dict[str, str]:
    out = dict(os.environ)
    out.update(env or {})
    if spec.device == 'cpu':
        out['CUDA_VISIBLE_DEVICES'] = ''
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(spec: RunSpec, resume: bool) -> List[str]:
    """The training command line (torchrun when ``gpus_per_run`` > 1 on a
    GPU device)."""
    args = [
        spec.train_script, spec.config, '--work-dir', spec.work_dir,
        '--val-metrics-dir',
        osp.join(spec.work_dir, VAL_METRICS_DIR)
    ]
    if resume:
        args.append('--resume')
    if spec.gpus_per_run > 1 and spec.device != 'cpu':
        return [
            sys.executable, '-m', 'torch.distributed.run',
            f'--nproc_per_node={spec.gpus_per_run}',
            f'--master_port={_free_port()}', *args, '--launcher', 'pytorch',
            '--cfg-options', *spec.cfg_options
        ]
    return [sys.executable, *args, '--cfg-options', *spec.cfg_options]


def test_command(spec: RunSpec, checkpoint: str) -> List[str]:
    """The evaluation command line (one process)."""
    return [
        sys.executable, spec.test_script, spec.config, checkpoint,
        '--work-dir', osp.join(spec.work_dir, 'test'), '--metrics-json',
        osp.join(spec.work_dir, 'metrics.json'), '--no-verify',
        '--cfg-options', *spec.cfg_options
    ]


@dataclass
class _Child:
    returncode: int
    maxrss_mb: float
    wall_s: float
    stopped: bool = False
    nan: Optional[Dict] = None


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM now; SIGKILL after a grace period (in a helper thread)."""
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        return

    def later():
        time.sleep(TERM_GRACE_S)
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass

    threading.Thread(target=later, daemon=True).start()


def _run_child(cmd: List[str], log_path: str, env: Dict[str, str],
               lock_fd: Optional[int], stop: threading.Event,
               watch_dir: Optional[str] = None) -> _Child:
    """Run a command to completion, measuring its own peak RSS (``wait4``)
    and wall time, and stopping it early on ``stop`` or a NaN loss.

    The run's lock descriptor is inherited, so the lock is held as long as
    the training process lives, even if this process dies first.
    """
    start = time.monotonic()
    stopped, nan = False, None
    next_watch = start + WATCH_S
    with open(log_path, 'a') as log:
        log.write(f'\n# {now()} $ {" ".join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env=env,
                                pass_fds=(lock_fd, ) if lock_fd else ())
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if stop.is_set() and not stopped:
                stopped = True
                _terminate(proc)
            if watch_dir and nan is None and time.monotonic() > next_watch:
                next_watch = time.monotonic() + WATCH_S
                nan = wd.first_nan_loss(wd.read_scalars(watch_dir))
                if nan is not None:
                    _terminate(proc)
            time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return _Child(returncode=proc.returncode,
                  maxrss_mb=usage.ru_maxrss / 1024.0,  # KiB on Linux
                  wall_s=time.monotonic() - start, stopped=stopped, nan=nan)


def _verify_config(spec: RunSpec) -> Optional[bool]:
    """Whether the config the training dumped into its work dir hashes to
    the run's config hash, but for the ``resume`` and ``load_from`` that
    ``--resume`` sets (None if it dumped none or it does not load)."""
    from .identity import config_hash, resolve_config
    dumped = osp.join(spec.work_dir, osp.basename(spec.config))
    if not osp.isfile(dumped):
        return None
    try:
        cfg = resolve_config(dumped)
    except Exception:
        return None
    if cfg.get('resume'):  # --resume set them: the checkpoint it continued
        resolved = spec.resolved_config or {}
        for key in ('resume', 'load_from'):
            cfg.pop(key, None)
            if key in resolved:
                cfg[key] = resolved[key]
    return config_hash(cfg) == spec.config_hash


def _read(path: str) -> str:
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def _fail(rec: Dict, status: str, kind: str, message: str,
          log_tail: str = '') -> None:
    rec['status'] = status
    rec['reason'] = dict(kind=kind, message=message, log_tail=log_tail)


def _fail_diverged(rec: Dict, info: Dict, log_tail: str) -> None:
    """Record a non-finite loss (from the hook's marker or the logged
    scalars) or weight (marker) with its iteration."""
    if info.get('where') == 'weights':
        _fail(rec, 'failed', 'nonfinite_weights',
              f'non-finite weights ({info.get("key")}) at iteration '
              f'{info.get("iter")}', log_tail)
    else:
        _fail(rec, 'failed', 'nan_loss',
              f'{info.get("key")} = {info.get("value")} at iteration '
              f'{info.get("iter")}', log_tail)
    it = info.get('iter')
    rec['reason']['iteration'] = int(it) if isinstance(it, (int, float)) \
        else None


def _train_and_test(spec: RunSpec, rec: Dict, resume: bool,
                    env: Dict[str, str], lock_fd: Optional[int],
                    stop: threading.Event) -> None:
    """Fill ``rec`` with the outcome of training and evaluating."""
    wd.set_aside_marker(spec.work_dir)
    train_log = osp.join(spec.work_dir, 'train.log')
    cmd = train_command(spec, resume)
    rec['commands'] = dict(train=portable_command(cmd, _REPO))
    train = _run_child(cmd, train_log, env, lock_fd, stop, spec.work_dir)
    rec['code'] = read_fingerprint(spec.work_dir)
    entries = wd.read_scalars(spec.work_dir)
    log_text = _read(train_log)
    cuda = wd.cuda_used(log_text)
    rec['devices'] = dict(
        type='cuda' if cuda else 'cpu',
        count=spec.gpus_per_run if cuda and spec.device != 'cpu' else 1)
    rec['train_time_s'] = train.wall_s
    rec['wall_time_s'] = train.wall_s
    rec['peak_host_rss_mb'] = train.maxrss_mb
    rec['iterations'] = wd.last_train_iter(entries)
    rec['curve'] = wd.val_curve(entries)
    rec['train_curve'] = wd.train_curve(entries)
    rec['trajectory'] = wd.read_trajectory(spec.work_dir)
    rec['config_verified'] = _verify_config(spec)
    rec['init'] = init_used(spec.resolved_config or {}, log_text)
    gpu_mem = wd.peak_gpu_memory_mb(entries)
    # what training adds (GPU: allocated; CPU: RSS growth), not the ~1 GB
    # process total every method shares; the total where neither is logged
    growth = wd.peak_rss_growth_mb(entries)
    rec['peak_memory_mb'], rec['peak_memory_kind'] = (
        (gpu_mem, 'gpu_allocated') if gpu_mem is not None else
        (growth, 'host_rss_growth') if growth is not None else
        (train.maxrss_mb, 'host_rss'))
    err = wd.error_summary(log_text)
    nan = wd.non_finite_marker(spec.work_dir) or train.nan or \
        wd.first_nan_loss(entries)
    if train.stopped:
        _fail(rec, 'interrupted', 'stopped',
              'stopped by the benchmark (Ctrl-C or SIGTERM)', err['log_tail'])
        return
    if nan is not None:
        _fail_diverged(rec, nan, err['log_tail'])
        return
    if train.returncode < 0:
        name = signal.Signals(-train.returncode).name
        _fail(rec, 'interrupted', 'killed',
              f'training process killed by {name}', err['log_tail'])
        return
    if train.returncode != 0:
        kind = 'exception' if 'Traceback' in log_text or \
            err['message'].startswith('error: ') else 'exit_code'
        _fail(rec, 'failed', kind,
              f'tools/train.py exited with {train.returncode}: '
              f'{err["message"]}', err['log_tail'])
        return

    last = wd.last_checkpoint(spec.work_dir)
    ckpt = wd.best_checkpoint(spec.work_dir) if spec.checkpoint == 'best' \
        else last
    if ckpt is None:
        which = 'best ' if spec.checkpoint == 'best' else ''
        _fail(rec, 'failed', 'no_checkpoint',
              f'training ended without a {which}checkpoint in '
              f'{spec.work_dir}')
        return
    if last is not None:
        rec['iterations'] = wd.iteration_of(last) or rec['iterations']
    rec['checkpoint'] = dict(
        path=_display(ckpt), iteration=wd.iteration_of(ckpt),
        selection=('last iterate' if spec.checkpoint == 'last' else
                   'best target-val mIoU'),
        oracle_selection=spec.checkpoint == 'best')

    metrics = training_metrics(spec, rec['checkpoint']['iteration'])
    if metrics is not None:
        rec['checkpoint']['evaluated_by'] = 'training (validation)'
        _set_metrics(rec, metrics)
        return
    metrics_path = osp.join(spec.work_dir, 'metrics.json')
    if osp.exists(metrics_path):
        os.remove(metrics_path)
    cmd = test_command(spec, ckpt)
    rec['commands']['test'] = portable_command(cmd, _REPO)
    test_log = osp.join(spec.work_dir, 'test.log')
    test = _run_child(cmd, test_log, env, lock_fd, stop)
    rec['test_time_s'] = test.wall_s
    rec['wall_time_s'] = train.wall_s + test.wall_s
    rec['peak_host_rss_mb'] = max(train.maxrss_mb, test.maxrss_mb)
    if rec['peak_memory_kind'] == 'host_rss':
        rec['peak_memory_mb'] = rec['peak_host_rss_mb']
    if test.stopped or test.returncode < 0:
        _fail(rec, 'interrupted', 'stopped' if test.stopped else 'killed',
              'evaluation stopped', wd.error_summary(_read(test_log))
              ['log_tail'])
        return
    if test.returncode != 0 or not osp.exists(metrics_path):
        err = wd.error_summary(_read(test_log))
        if err['message'].startswith('error: non-finite'):
            _fail(rec, 'failed', 'nonfinite_weights', err['message'][7:],
                  err['log_tail'])
            rec['reason']['iteration'] = rec['checkpoint']['iteration']
            return
        _fail(rec, 'failed', 'test_failed',
              f'tools/test.py exited with {test.returncode}: '
              f'{err["message"]}', err['log_tail'])
        return
    with open(metrics_path) as f:
        metrics = json.load(f)
    rec['checkpoint']['evaluated_by'] = 'tools/test.py'
    _set_metrics(rec, metrics)


def _set_metrics(rec: Dict, metrics: Dict) -> None:
    """Finish ``rec`` with the evaluated checkpoint's metrics."""
    rec['metrics'] = {
        k: v for k, v in metrics.items() if not k.startswith('IoU.')
    }
    rec['per_class_iou'] = {
        k[4:]: v for k, v in metrics.items() if k.startswith('IoU.')
    }
    rec['status'] = 'finished'


def _loop_args(loop_cfg: Optional[Dict]) -> Dict:
    return {k: v for k, v in (loop_cfg or {}).items() if k != 'type'}


def training_metrics(spec: RunSpec,
                     iteration: Optional[int]) -> Optional[Dict]:
    """The metrics the training's validation after ``iteration`` wrote
    (``tools/train.py --val-metrics-dir``), or None when it wrote none or
    when ``tools/test.py`` would evaluate differently: the resolved config's
    val and test dataloaders, evaluators or loop arguments differ."""
    cfg = spec.resolved_config or {}
    if iteration is None or any(
            cfg.get(f'val_{k}') != cfg.get(f'test_{k}')
            for k in ('dataloader', 'evaluator')) or _loop_args(
                cfg.get('val_cfg')) != _loop_args(cfg.get('test_cfg')):
        return None
    path = osp.join(spec.work_dir, VAL_METRICS_DIR, f'iter_{iteration}.json')
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def new_record(spec: RunSpec, attempts: List[Dict], resume: bool) -> Dict:
    """The record of a run that starts now (status ``running``)."""
    return dict(
        schema=1, run_id=spec.run_id, task=spec.task, method=spec.method,
        seed=spec.seed, status='running', reason=None,
        attempt=uuid.uuid4().hex[:12],
        suite=_display(spec.suite) if spec.suite else None,
        config=_display(spec.config),
        config_files=config_files(spec.config, _REPO),
        config_hash=spec.config_hash, overrides=spec.overrides,
        cfg_options=spec.cfg_options, work_dir=_display(spec.work_dir),
        git=git_info(_REPO, exclude=spec.results_dir,
                     diff_dir=osp.join(spec.results_dir, spec.task, 'diffs')),
        versions=versions(),
        hardware=hardware(), devices=None, started_at=now(),
        finished_at=None, host=socket.gethostname(), pid=os.getpid(),
        resumed=resume, max_iters=spec.max_iters, iterations=None,
        wall_time_s=None, train_time_s=None, test_time_s=None,
        compute_time_s=None, peak_memory_mb=None, peak_memory_kind=None,
        peak_host_rss_mb=None, metrics=None, per_class_iou=None,
        checkpoint=None, curve=[], config_verified=None, commands=None,
        code=None, inputs=input_files(spec.resolved_config or {}),
        attempts=attempts,
        resolved_config=spec.resolved_config)


def _close(store: ResultsStore, spec: RunSpec, rec: Dict,
           history: List[Dict], new_count: bool) -> None:
    """End an attempt: its compute, its ledger entry, its final record.

    A result that cannot be what it says (an mIoU that is not the mean of
    its classes, a value out of range: see :mod:`.schema`) fails the run
    (``invalid_result``); the values move into the reason.
    """
    rec['finished_at'] = now()
    rec['compute_time_s'] = _compute_time(rec['wall_time_s'] or 0.0,
                                          history, new_count)
    problem = store.problem(rec)
    if problem is not None:
        kept = {k: rec.get(k) for k in _RESULT_KEYS}
        _fail(rec, 'failed', 'invalid_result',
              f'the result is not a valid record: {problem}')
        rec['reason']['values'] = kept
        rec.update(metrics=None, per_class_iou=None, curve=[], trajectory=[],
                   train_curve=[])
    store.log_attempt(spec.task, spec.run_id, dict(
        _summary(rec, lost=False), event='end', attempt=rec['attempt'],
        new_count=new_count))
    store.write(rec)


def execute(spec: RunSpec,
            retrain: bool = False,
            env: Optional[Dict[str, str]] = None,
            stop: threading.Event = STOP,
            retry_diverged: bool = False,
            keep_stale: bool = False) -> Outcome:
    """Execute one run unless it is finished (and not stale, or
    ``keep_stale``), diverged (unless ``retry_diverged``) or executed
    elsewhere.

    Args:
        spec (RunSpec): The run.
        retrain (bool): Train a finished run again (its record moves into
            ``attempts``). Defaults to False.
        env (dict, optional): Extra environment (``CUDA_VISIBLE_DEVICES``).
        stop (threading.Event): Set to stop the run (recorded as
            interrupted).
        retry_diverged (bool): Retry a run that failed with a non-finite
            loss or weight. Defaults to False.
        keep_stale (bool): Keep a finished run whose code has changed
            since (default: train it again, from scratch, as a retrain).

    Returns:
        Outcome: What happened, with the record.
    """
    store = ResultsStore(spec.results_dir)
    lock = store.lock(spec.task, spec.run_id)
    if not lock.acquire():
        return Outcome(spec.run_id, spec.label, 'busy',
                       store.read(spec.task, spec.run_id))
    try:
        prev = store.read(spec.task, spec.run_id, locked=True)
        stale = None
        if prev is not None and prev['status'] == 'finished' and \
                not retrain:
            stale = None if keep_stale else stale_reason(prev)
            if stale is None:
                return Outcome(spec.run_id, spec.label, 'reused', prev)
        if diverged(prev) and not retry_diverged:
            return Outcome(spec.run_id, spec.label, 'failed', prev)
        if stop.is_set():
            return Outcome(spec.run_id, spec.label, 'interrupted', prev)
        history = attempt_history(store, spec, prev)
        status = None if prev is None else 'interrupted' if prev[
            'status'] == 'running' else prev['status']  # we hold the lock
        # a retrain of a finished run (stale or asked for) starts a new
        # count of compute
        new_count = status == 'finished'
        resume = resumes(spec, status, prev)
        if not resume and osp.isdir(spec.work_dir):
            shutil.rmtree(spec.work_dir)
        os.makedirs(spec.work_dir, exist_ok=True)
        rec = new_record(spec, history, resume)
        store.log_attempt(spec.task, spec.run_id, dict(
            event='start', attempt=rec['attempt'],
            started_at=rec['started_at'], host=rec['host'], pid=rec['pid'],
            resumed=resume, new_count=new_count,
            **(dict(stale=stale) if stale else {})))
        store.write(rec)
        try:
            _train_and_test(spec, rec, resume, _child_env(spec, env),
                            lock.fd, stop)
        except BaseException as e:
            if isinstance(e, Exception):
                _fail(rec, 'failed', 'benchmark_error',
                      f'{type(e).__name__}: {e}')
            else:  # KeyboardInterrupt, SystemExit
                _fail(rec, 'interrupted', 'stopped',
                      f'benchmark stopped ({type(e).__name__})')
            _close(store, spec, rec, history, new_count)
            if not isinstance(e, Exception):
                raise
            return Outcome(spec.run_id, spec.label, rec['status'], rec)
        _close(store, spec, rec, history, new_count)
        return Outcome(spec.run_id, spec.label, rec['status'], rec)
    finally:
        lock.release()
