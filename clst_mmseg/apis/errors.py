"""One line instead of a traceback for the failures a user can act on:
a checkpoint that does not load or fit or that another model or config
wrote, a non-finite loss or weight, a
folder that cannot be written (read-only, not creatable, disk full)."""
import contextlib
import os
import sys
from typing import Iterator

from clst_mmseg.compat import CheckpointError
from clst_mmseg.engine.hooks.checkpoint_identity_hook import \
    CheckpointMismatch
from clst_mmseg.engine.hooks.non_finite_check_hook import NonFiniteError
from .os_errors import WRITE_ERRNOS, os_error_line  # noqa: F401


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
