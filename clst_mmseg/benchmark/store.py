"""The results store: one JSON record per run, written atomically.

Layout under the results folder::

    <task>/records/<run_id>.json   one record per run (small; commit these)
    <task>/.locks/<run_id>.lock    advisory locks while a run executes

A record is replaced with a temp file + ``os.replace`` in the same folder,
so a reader sees the old or the new record, never half of one, and each run
has its own file, so concurrent writers never drop each other's records.
Who executes a run is decided by an exclusive ``flock`` on its lock file:
the lock follows the training process itself (its file descriptor is
inherited), dies with it, and a second benchmark process on the same folder
skips a run that is being executed.
"""
import contextlib
import errno
import fcntl
import json
import math
import os
import os.path as osp
import tempfile
from typing import Dict, Iterator, List, Optional

#: Record schema version.
SCHEMA = 1
STATUSES = ('running', 'finished', 'failed', 'interrupted')


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
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def record_path(self, task: str, run_id: str) -> str:
        return osp.join(self.root, task, 'records', f'{run_id}.json')

    def lock_path(self, task: str, run_id: str) -> str:
        return osp.join(self.root, task, '.locks', f'{run_id}.lock')

    def write(self, record: Dict) -> str:
        """Write (or replace) a run's record atomically.

        Args:
            record (dict): Must have ``task``, ``run_id`` and a ``status``
                in :data:`STATUSES`.

        Returns:
            str: The record's path.
        """
        for key in ('task', 'run_id', 'status'):
            if key not in record:
                raise ValueError(f'record without {key!r}')
        if record['status'] not in STATUSES:
            raise ValueError(f'record {record["run_id"]}: status '
                             f'{record["status"]!r} not in {STATUSES}')
        path = self.record_path(record['task'], record['run_id'])
        folder = osp.dirname(path)
        os.makedirs(folder, exist_ok=True)
        text = json.dumps(_clean(record), indent=1, sort_keys=False,
                          allow_nan=False)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                                   suffix='.json')
        try:
            with os.fdopen(fd, 'w') as f:
                f.write(text + '\n')
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def read(self, task: str, run_id: str) -> Optional[Dict]:
        """A run's record, or None if it has none.

        Raises:
            ValueError: If the file is not valid JSON (names the file).
        """
        return self._load(self.record_path(task, run_id))

    @staticmethod
    def _load(path: str) -> Optional[Dict]:
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as e:
            raise ValueError(f'corrupt record {path}: {e}') from e

    def records(self, task: Optional[str] = None) -> List[Dict]:
        """All records (of one task, or of every task), sorted by path."""
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
                    rec = self._load(osp.join(folder, name))
                    if rec is not None:
                        out.append(rec)
        return out

    def lock(self, task: str, run_id: str) -> RunLock:
        """The run's lock (not yet acquired)."""
        self._ignore_locks(task)
        return RunLock(self.lock_path(task, run_id))

    def is_locked(self, task: str, run_id: str) -> bool:
        """Whether some process executes the run right now."""
        if not osp.exists(self.lock_path(task, run_id)):
            return False
        probe = RunLock(self.lock_path(task, run_id))
        if probe.acquire():
            probe.release()
            return False
        return True

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
