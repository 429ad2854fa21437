"""One line instead of a traceback for the failures a user can act on:
a checkpoint that does not load or fit or that another model or config
wrote, a non-finite loss or weight, a
folder that cannot be written (read-only, not creatable, disk full)."""
import contextlib
import os
import traceback
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


def _exit_tool(status) -> None:
    from .config import exit_tool
    exit_tool(status)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn the errors listed in the module docstring into ``error: ...``
    and exit status 1; anything else keeps its traceback. Either way a
    distributed run ends through :func:`~.config.exit_tool` (its process
    group closed, no interpreter finalization)."""
    try:
        yield
    except (CheckpointError, CheckpointMismatch, NonFiniteError) as e:
        _exit_tool(f'error: {e}')
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            _exit_distributed_with_traceback()
            raise
        _exit_tool(f'error: {os_error_line(e)}')
    except Exception:
        _exit_distributed_with_traceback()
        raise


def _exit_distributed_with_traceback() -> None:
    """In a distributed run: print the current exception's traceback and
    exit with status 1 through :func:`~.config.exit_tool`; otherwise
    nothing (the exception goes on)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        traceback.print_exc()
        _exit_tool(1)
