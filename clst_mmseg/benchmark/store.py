"""The results store: one JSON record per run, written atomically.

Layout under the results folder::

    <task>/records/<run_id>.json   one record per run (small; commit these)
    <task>/attempts/<run_id>.jsonl every attempt of a run, one line at its
                                   start and one at its end (commit these)
    <task>/.locks/<run_id>.lock    advisory locks while a run executes

A record is replaced with a temp file + ``os.replace`` in the same folder,
so a reader sees the old or the new record, never half of one, and each run
has its own file, so concurrent writers never drop each other's records.
Who executes a run is decided by an exclusive ``flock`` on its lock file:
the lock follows the training process itself (its file descriptor is
inherited), dies with it, and a second benchmark process on the same folder
skips a run that is being executed.

Every record read is validated against ``record_schema.json`` and by
meaning (:func:`~.schema.meaning_problem`). An invalid one (truncated,
``{}``, wrong types, a run id that is not its file name or not made of its
own task, method, config hash and seed, a metric out of range or that is
not the mean of its classes' IoU) is reported in one line and moved, under
its run's lock, to ``<task>/invalid_records/<run_id>.<UTC time>.json``
(never deleted), the problem beside it in ``<same name>.reason``; its run
then counts as not run. A read-only store (``--dry-run``) only reports it.
Records are readable by the group and others as the umask allows (not
``mkstemp``'s 0600).

The attempt ledger is appended to (under the run's lock) and never
rewritten or moved: what an attempt cost survives its record being set
aside, replaced or lost with the process that wrote it.
"""
import contextlib
import datetime
import errno
import fcntl
import json
import math
import os
import os.path as osp
import sys
import tempfile
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from .schema import record_problem

#: Record schema version.
SCHEMA = 1
STATUSES = ('running', 'finished', 'failed', 'interrupted')
#: Where invalid records are moved, inside ``<results_dir>/<task>/``.
INVALID_DIR = 'invalid_records'
#: Beside a moved record: why it was invalid (one line).
REASON_SUFFIX = '.reason'
#: Where the attempt ledgers are, inside ``<results_dir>/<task>/``.
ATTEMPTS_DIR = 'attempts'


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of a written record: what ``open()`` would give (mkstemp: 0600).
RECORD_MODE = 0o666 & ~_umask()


def _warn(text: str) -> None:
    print(f'warning: {text}', file=sys.stderr, flush=True)


def _display(path: str) -> str:
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def _clean(value):
    """NaN/inf -> None so the JSON is strict (other tools can read it)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class RunLock:
    """An exclusive, non-blocking ``flock`` on a run's lock file.

    Args:
        path (str): Lock file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        """Try to take the lock. Returns False if someone holds it."""
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ResultsStore:
    """Records of finished (and unfinished) runs under one folder.

    Args:
        root (str): The results folder (e.g. ``results``).
        readonly (bool): Never create, move or lock anything (``--dry-run``
            works on a read-only folder). Defaults to False.
        warn (callable, optional): Prints the one-line reports about
            invalid records (default: ``warning: ...`` on stderr).
    """

    def __init__(self, root: str, readonly: bool = False,
                 warn: Optional[Callable[[str], None]] = None) -> None:
        self.root = root
        self.readonly = readonly
        self.warn = warn or _warn
        self._reported = set()

    def record_path(self, task: str, run_id: str) -> str:
        return osp.join(self.root, task, 'records', f'{run_id}.json')

    def lock_path(self, task: str, run_id: str) -> str:
        return osp.join(self.root, task, '.locks', f'{run_id}.lock')

    @staticmethod
    def problem(record: Dict) -> Optional[str]:
        """Why :meth:`write` would refuse ``record`` (None: it would not)."""
        return record_problem(_clean(record))

    def write(self, record: Dict) -> str:
        """Write (or replace) a run's record atomically.

        Args:
            record (dict): A record matching ``record_schema.json`` (NaN and
                inf are written as null).

        Returns:
            str: The record's path.

        Raises:
            ValueError: If the record does not match the schema.
            OSError: If the folder cannot be written (read-only, disk full).
        """
        record = _clean(record)
        problem = record_problem(record)
        if problem is not None:
            raise ValueError(f'record {record.get("run_id")!r} does not '
                             f'match the record schema: {problem}')
        path = self.record_path(record['task'], record['run_id'])
        folder = osp.dirname(path)
        text = json.dumps(record, indent=1, sort_keys=False,
                          allow_nan=False)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                                       suffix='.json')
        except OSError as e:
            raise OSError(e.errno, e.strerror, path) from None
        try:
            os.fchmod(fd, RECORD_MODE)
            with os.fdopen(fd, 'w') as f:
                f.write(text + '\n')
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(e, OSError):  # name the record, not the temp file
                raise OSError(e.errno, e.strerror, path) from None
            raise
        return path

    def read(self, task: str, run_id: str,
             locked: bool = False) -> Optional[Dict]:
        """A run's valid record, or None if it has none (an invalid one is
        reported and set aside; see the module docstring).

        Args:
            task (str): Task key.
            run_id (str): Run id.
            locked (bool): The caller holds the run's lock. Defaults to
                False.
        """
        return self._load(self.record_path(task, run_id), task, run_id,
                          locked)

    @staticmethod
    def _parse(path: str, task: str,
               run_id: str) -> Tuple[Optional[Dict], Optional[str]]:
        """``(record, None)``, ``(None, None)`` if there is no file, or
        ``(None, problem)``."""
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return None, None
        try:
            rec = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return None, (f'not valid JSON ({e})' if data.strip() else
                          'empty file')
        problem = record_problem(rec, task, run_id)
        return (None, problem) if problem else (rec, None)

    def _load(self, path: str, task: str, run_id: str,
              locked: bool = False) -> Optional[Dict]:
        rec, problem = self._parse(path, task, run_id)
        if problem is None:
            return rec
        head = f'invalid record {_display(path)} ({problem})'
        if self.readonly:
            self._report(path, f'{head}; left in place (read-only look): '
                         'its run counts as not run')
            return None
        lock = None if locked else RunLock(self.lock_path(task, run_id))
        try:
            if lock is not None and not lock.acquire():
                self._report(path, f'{head}; left in place: its run is '
                             'being executed elsewhere, which replaces it')
                return None
            rec, problem = self._parse(path, task, run_id)  # under the lock
            if problem is None:
                return rec
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
                '%Y%m%dT%H%M%S.%fZ')
            dest = osp.join(self.root, task, INVALID_DIR,
                            f'{osp.basename(path)[:-5]}.{stamp}.json')
            os.makedirs(osp.dirname(dest), exist_ok=True)
            os.replace(path, dest)
            with contextlib.suppress(OSError):  # the move is what counts
                with open(dest[:-len('.json')] + REASON_SUFFIX, 'w') as f:
                    f.write(problem + '\n')
            self._report(path, f'{head}; moved to {_display(dest)}; its run '
                         'is planned again')
        except OSError as e:
            self._report(path, f'{head}; could not be moved aside '
                         f'({e.strerror or e}): its run counts as not run')
        finally:
            if lock is not None:
                lock.release()
        return None

    def set_aside(self, task: str, run_id: str) -> List[Tuple[str, str]]:
        """A run's records that were moved to ``invalid_records/``, oldest
        first.

        Returns:
            list[tuple]: ``(path relative to the task folder, why)``.
        """
        folder = osp.join(self.root, task, INVALID_DIR)
        names = sorted(n for n in (os.listdir(folder) if osp.isdir(folder)
                                   else [])
                       if n.startswith(f'{run_id}.') and n.endswith('.json')
                       and n[len(run_id) + 1:-len('.json')].count('.') == 1)
        out = []
        for name in names:
            try:
                with open(osp.join(folder, name[:-len('.json')] +
                                   REASON_SUFFIX)) as f:
                    why = f.read().strip()
            except OSError:
                why = 'invalid'
            out.append((f'{INVALID_DIR}/{name}', why))
        return out

    def _report(self, path: str, text: str) -> None:
        if path not in self._reported:
            self._reported.add(path)
            self.warn(text)

    def records(self, task: Optional[str] = None) -> List[Dict]:
        """All valid records (of one task, or of every task), sorted by
        path; invalid ones are reported and set aside."""
        tasks = [task] if task else sorted(
            d for d in (os.listdir(self.root) if osp.isdir(self.root) else [])
            if osp.isdir(osp.join(self.root, d, 'records')))
        out = []
        for t in tasks:
            folder = osp.join(self.root, t, 'records')
            if not osp.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if name.endswith('.json') and not name.startswith('.'):
                    rec = self._load(osp.join(folder, name), t, name[:-5])
                    if rec is not None:
                        out.append(rec)
        return out

    def ledger_path(self, task: str, run_id: str) -> str:
        return osp.join(self.root, task, ATTEMPTS_DIR, f'{run_id}.jsonl')

    def log_attempt(self, task: str, run_id: str, entry: Dict) -> None:
        """Append one entry to a run's attempt ledger (the caller holds the
        run's lock), flushed to disk before returning.

        Raises:
            OSError: If the ledger cannot be written, naming it.
        """
        path = self.ledger_path(task, run_id)
        line = json.dumps(_clean(entry), allow_nan=False) + '\n'
        try:
            os.makedirs(osp.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         RECORD_MODE)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise OSError(e.errno, e.strerror, path) from None

    def attempt_log(self, task: str, run_id: str) -> List[Dict]:
        """A run's attempt ledger, oldest entry first (a line cut short by a
        crash is skipped)."""
        try:
            with open(self.ledger_path(task, run_id)) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get('attempt'):
                out.append(entry)
        return out

    def check_writable(self, task: str) -> None:
        """Create ``<task>/records`` and write and remove a probe file, so
        that a read-only or full results folder stops a benchmark before
        anything runs.

        Raises:
            OSError: Naming the folder.
        """
        folder = osp.join(self.root, task, 'records')
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix='.probe-')
            os.close(fd)
            os.unlink(tmp)
        except OSError as e:
            raise OSError(e.errno, e.strerror, folder) from None

    def lock(self, task: str, run_id: str) -> RunLock:
        """The run's lock (not yet acquired)."""
        self._ignore_locks(task)
        return RunLock(self.lock_path(task, run_id))

    def is_locked(self, task: str, run_id: str) -> bool:
        """Whether some process executes the run right now (opens the lock
        file read-only, creating nothing)."""
        try:
            fd = os.open(self.lock_path(task, run_id), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return True
            raise
        finally:
            os.close(fd)
        return False

    def _ignore_locks(self, task: str) -> None:
        """Keep lock files out of git without anyone editing .gitignore."""
        folder = osp.join(self.root, task, '.locks')
        os.makedirs(folder, exist_ok=True)
        ignore = osp.join(folder, '.gitignore')
        if not osp.exists(ignore):
            with contextlib.suppress(OSError):
                with open(ignore, 'w') as f:
                    f.write('*\n')

    def effective_status(self, record: Optional[Dict]) -> Optional[str]:
        """The status to act on: a ``running`` record whose lock nobody
        holds was left by a process that died (``interrupted``)."""
        if record is None:
            return None
        if record['status'] == 'running' and not self.is_locked(
                record['task'], record['run_id']):
            return 'interrupted'
        return record['status']


@contextlib.contextmanager
def holding(lock: RunLock) -> Iterator[bool]:
    """``with holding(store.lock(t, r)) as got:`` -- got is False if the run
    is executed elsewhere."""
    got = lock.acquire()
    try:
        yield got
    finally:
        if got:
            lock.release()
