"""Run a tool script as ``subprocess.run([python, script, ...])`` would, in a
forked child of the test process, which has torch, mmengine, mmseg and
clst_mmseg imported already: the child skips the ~5 s of interpreter
start-up and imports a fresh process spends (most of the test suite's time
on 2 cores).

The child is made to look like a fresh interpreter where the test process
differs from one: its own argv, working directory, environment, sys.path
(``PYTHONPATH``), torch thread count (``OMP_NUM_THREADS``), console (fd 1
and 2 into files), Python's default warning filters, no logging handlers
and no mmengine logger, message hub, visualizer or scope instances left
from earlier tests. What it cannot undo -- modules already imported, in the
order the test process imported them -- is why the tests that are about a
fresh process (import order, start-up warnings, exit) start a real one
(``REAL_PROCESS=1`` in the environment makes every call start one).
"""
import io
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

#: Python's warning filters at start-up (``python -W`` unset).
_DEFAULT_FILTERS = [
    ('default', None, DeprecationWarning, '__main__', 0),
    ('ignore', None, DeprecationWarning, None, 0),
    ('ignore', None, PendingDeprecationWarning, None, 0),
    ('ignore', None, ImportWarning, None, 0),
    ('ignore', None, ResourceWarning, None, 0),
]


def _fresh_globals(env: dict) -> None:
    """In the child: what a new interpreter would not have."""
    import logging

    import torch
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer
    for cls in (MMLogger, MessageHub, Visualizer, DefaultScope):
        cls._instance_dict.clear()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    warnings.filters[:] = list(_DEFAULT_FILTERS)  # as the C module has them
    warnings._filters_mutated()
    warnings.showwarning = warnings._showwarning_orig
    threads = env.get('OMP_NUM_THREADS')
    if threads:
        torch.set_num_threads(int(threads))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _child(argv, cwd, env, out_fd, err_fd) -> None:
    code = 1
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # streams bound before the fork (pytest's capture files, defaults
        # such as mmengine's ProgressBar(file=sys.stdout)) write to the
        # child's console too
        for stream, fd in ((sys.stdout, out_fd), (sys.stderr, err_fd)):
            try:
                number = stream.fileno()
            except (AttributeError, OSError, ValueError):
                continue
            if number > 2:
                os.dup2(fd, number)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, 'w', closefd=False),
                                      line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, 'w', closefd=False),
                                      line_buffering=True)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        extra = [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
        sys.path[:] = [os.path.dirname(os.path.abspath(argv[0]))] + extra + \
            [p for p in sys.path if p not in extra]
        sys.argv = list(argv)
        _fresh_globals(env)
        try:
            runpy.run_path(argv[0], run_name='__main__')
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_tool(argv, cwd, env, timeout=None) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable, *argv], cwd=cwd, env=env,
    text=True, capture_output=True, timeout=timeout)``, in a forked child
    (a real process when ``env`` sets ``REAL_PROCESS=1``).

    Returns:
        subprocess.CompletedProcess: ``returncode`` negative for a signal,
        as subprocess reports it; ``args`` as the real call's.
    """
    args = [sys.executable, *argv]
    if env.get('REAL_PROCESS') == '1':
        return subprocess.run(args, cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=timeout)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(argv, cwd, env, out.fileno(), err.fileno())
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if deadline is not None and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(args, timeout)
            time.sleep(0.05)
        code = (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else
                os.WEXITSTATUS(status))
        texts = []
        for f in (out, err):
            f.seek(0)
            texts.append(f.read().decode('utf-8', errors='replace'))
    return subprocess.CompletedProcess(args, code, texts[0], texts[1])
