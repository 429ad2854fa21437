"""One line instead of a traceback for the failures a user can act on:
a checkpoint that does not load or fit or that another model or config
wrote, a non-finite loss or weight, a
folder that cannot be written (read-only, not creatable, disk full)."""
import contextlib
import errno
import os
import sys
from typing import Iterator

from clst_mmseg.compat import CheckpointError
from clst_mmseg.engine.hooks.checkpoint_identity_hook import \
    CheckpointMismatch
from clst_mmseg.engine.hooks.non_finite_check_hook import NonFiniteError

#: ``errno`` values of a write that failed because of the file system.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                errno.EPERM, errno.ENOTDIR, errno.EEXIST)


def os_error_line(e: OSError) -> str:
    """One line for a file-system error, naming the file."""
    where = e.filename or 'a file'
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f'disk full while writing {where} ({e.strerror})'
    if e.errno == errno.EROFS:
        return f'cannot write {where}: read-only file system'
    return f'{where}: {e.strerror or e}'


def check_work_dir(path: str) -> None:
    """Create the work dir now, so that one that cannot be created stops the
    tool in one line before a runner is built.

    Raises:
        ValueError: Naming the folder and why.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ValueError(f'work dir {path} cannot be created: '
                         f'{e.strerror or e}') from None


def _close_distributed() -> None:
    from .config import close_distributed
    close_distributed()


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn the errors listed in the module docstring into ``error: ...``
    and exit status 1; anything else keeps its traceback."""
    try:
        yield
    except (CheckpointError, CheckpointMismatch, NonFiniteError) as e:
        _close_distributed()
        sys.exit(f'error: {e}')
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        _close_distributed()
        sys.exit(f'error: {os_error_line(e)}')
