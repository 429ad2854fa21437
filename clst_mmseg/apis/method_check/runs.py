"""Short trainings of a config, built as ``tools/train.py`` builds them, in
this process or in two forked processes under DDP, with a hook that takes
:func:`~.state.training_state` at chosen moments."""
import contextlib
import multiprocessing
import os
import os.path as osp
import pickle
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from mmengine.hooks import Hook

from .state import training_state


class StopTraining(Exception):
    """Raised by :class:`Recorder` to end a run at an iteration, as a
    killed process would end it (no ``after_train``)."""


@dataclass
class RunResult:
    """What a short run left.

    Args:
        states (dict): ``'before <i>'`` / ``'after <i>'`` (before and after
            training step ``i``, 0-based) and ``'end'`` -> training state.
        metrics (dict): Iterations done -> the validation metrics then.
        error (str, optional): The exception that ended the run, one line
            (None when it finished or was stopped as asked).
        log (str): The run's console log.
        extra (dict): What :class:`Recorder` noted (``pseudo_label_steps``,
            ``warmups``, ``model``).
    """
    states: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    metrics: Dict[int, Dict[str, float]] = field(default_factory=dict)
    error: Optional[str] = None
    log: str = ''
    extra: Dict[str, Any] = field(default_factory=dict)


class Recorder(Hook):
    """Takes the training state before step ``i`` (``before``: first among
    the hooks, e.g. before a round of pseudo-labelling), after step ``i``
    (``after``: last, after the checkpoint) and at the end; records every
    validation's metrics; raises :class:`StopTraining` before step
    ``stop_at``.

    Two instances are registered, one with each role (a hook has one
    priority): ``role='first'`` (HIGHEST) and ``role='last'`` (LOWEST).
    """

    def __init__(self, result: RunResult, hook_types: Sequence[str],
                 role: str, before: Sequence[int] = (),
                 after: Sequence[int] = (), end: bool = False,
                 stop_at: Optional[int] = None) -> None:
        self.result = result
        self.hook_types = list(hook_types)
        self.role = role
        self.before, self.after = set(before), set(after)
        self.end, self.stop_at = end, stop_at

    def _take(self, runner, key: str) -> None:
        self.result.states[key] = training_state(runner, self.hook_types)

    def before_train(self, runner) -> None:
        if self.role == 'last':
            from .state import unwrap
            model = unwrap(runner.model)
            self.result.extra['model'] = type(model).__name__
            warmups = getattr(model, 'warmups', None)
            self.result.extra['warmups'] = dict(warmups()) if warmups else {}
            # the default runtime's hooks (RNG states, trajectory, warm-up
            # check), as opposed to the method's own
            self.result.extra['harness_hooks'] = [
                h['type'] for h in runner.cfg.get('common_custom_hooks', [])
            ]

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.role != 'first':
            return
        if runner.iter in self.before:
            self._take(runner, f'before {runner.iter}')
        if runner.iter == self.stop_at:
            raise StopTraining(runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.role != 'last':
            return
        from .state import unwrap
        record = getattr(unwrap(runner.model), 'last_pseudo_labels',
                         lambda: None)()
        if record is not None:
            self.result.extra['pseudo_label_steps'] = \
                self.result.extra.get('pseudo_label_steps', 0) + 1
        if runner.iter in self.after:
            self._take(runner, f'after {runner.iter}')

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.role == 'last' and metrics:
            self.result.metrics[runner.iter] = {
                k: float(v) for k, v in metrics.items()
                if isinstance(v, (int, float))
            }

    def after_train(self, runner) -> None:
        if self.role != 'last':
            return
        prefix = 'train/pl_diag.'
        self.result.extra['pl_diag'] = {
            key[len(prefix):]: float(value.current())
            for key, value in runner.message_hub.log_scalars.items()
            if key.startswith(prefix)
        }
        if self.end:
            self._take(runner, 'end')


class _Sink:
    """A stream that writes to a file while a run lasts and drops what
    comes later (mmengine's loggers keep the stream they were created
    with)."""

    def __init__(self) -> None:
        self.target = None

    def write(self, text: str) -> int:
        if self.target is not None:
            self.target.write(text)
        return len(text)

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def isatty(self) -> bool:
        return False


_SINK = _Sink()


@contextlib.contextmanager
def _console_to(path: str):
    """Send the console output of what runs inside to ``path``."""
    with open(path, 'a') as f:
        _SINK.target = f
        try:
            with contextlib.redirect_stdout(_SINK), \
                    contextlib.redirect_stderr(_SINK):
                yield
        finally:
            _SINK.target = None


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type, message and where it was
    raised (the innermost frame)."""
    msg = ' '.join(str(exc).split()) or type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__)
    where = f' ({osp.basename(tb[-1].filename)}:{tb[-1].lineno})' if tb \
        else ''
    return f'{type(exc).__name__}: {msg}{where}'


def build_runner(config: str, options: Dict[str, Any], work_dir: str,
                 name: str, launcher: str = 'none',
                 resume_from: Optional[str] = None,
                 extra_default_hooks: Optional[Dict[str, dict]] = None):
    """A runner built as ``tools/train.py`` builds it: the config loaded
    and checked, the tool hooks and the non-finite check registered.

    Args:
        config (str): Config file.
        options (dict): ``--cfg-options``.
        work_dir (str): The run's work dir.
        name (str): Experiment name (unique within the process).
        launcher (str): ``'none'`` or ``'pytorch'``.
        resume_from (str, optional): A checkpoint to resume from.
        extra_default_hooks (dict, optional): Hooks added to
            ``default_hooks``.

    Returns:
        Runner: The runner.
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS

    from clst_mmseg.apis import (load_config, prepare_run,
                                 register_tool_hooks)
    from clst_mmseg.engine.hooks.non_finite_check_hook import \
        ensure_non_finite_check
    cfg = load_config(config, options, work_dir, launcher,
                      format_python_code=False)
    cfg.experiment_name = name
    if isinstance(cfg.get('visualizer'), dict):
        # mmengine builds a visualizer per name once per process: a second
        # run would write into the first one's work dir
        cfg.visualizer['name'] = name
    for key, hook in (extra_default_hooks or {}).items():
        cfg.default_hooks[key] = hook
    if resume_from is not None:
        cfg.resume, cfg.load_from = True, resume_from
    prepare_run(cfg, verify=False)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)
    register_tool_hooks(runner)
    ensure_non_finite_check(runner)
    return runner


def custom_hook_types(runner) -> List[str]:
    """Class names of the hooks a config lists in ``custom_hooks``."""
    return [h['type'] if isinstance(h['type'], str) else h['type'].__name__
            for h in runner.cfg.get('custom_hooks') or []]


def _close_log_files(runner) -> None:
    import logging
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)


_COUNTER = [0]


def train(config: str, options: Dict[str, Any], work_dir: str, *,
          before: Sequence[int] = (), after: Sequence[int] = (),
          end: bool = False, stop_at: Optional[int] = None,
          resume_from: Optional[str] = None,
          extra_default_hooks: Optional[Dict[str, dict]] = None
          ) -> RunResult:
    """Train a config in this process, taking its state as asked.

    Args:
        config (str): Config file.
        options (dict): ``--cfg-options`` (the short schedule).
        work_dir (str): Work dir (a resumed run uses the stopped run's).
        before, after (list[int]): Steps to take the state before / after.
        end (bool): Take the state after training.
        stop_at (int, optional): End the run before this step.
        resume_from (str, optional): Checkpoint to resume from.
        extra_default_hooks (dict, optional): Hooks added to
            ``default_hooks``.

    Returns:
        RunResult: States, metrics, the error if one ended it, the log.
    """
    os.makedirs(work_dir, exist_ok=True)
    log_path = osp.join(work_dir, 'console.log')
    result = RunResult()
    _COUNTER[0] += 1
    runner = None
    with _console_to(log_path):
        try:
            runner = build_runner(
                config, options, work_dir,
                f'method_check_{os.getpid()}_{_COUNTER[0]}',
                resume_from=resume_from,
                extra_default_hooks=extra_default_hooks)
            types = custom_hook_types(runner)
            runner.register_hook(
                Recorder(result, types, 'first', before=before,
                         stop_at=stop_at), 'HIGHEST')
            runner.register_hook(
                Recorder(result, types, 'last', after=after, end=end),
                'LOWEST')
            runner.train()
        except StopTraining:
            pass
        except Exception as e:  # the check reports it
            result.error = one_line(e)
            traceback.print_exc(file=sys.stdout)
        finally:
            if runner is not None:
                _close_log_files(runner)
    with open(log_path) as f:
        result.log = f.read()
    return result


# -- two processes -----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, config: str,
               options: Dict[str, Any], work_dir: str,
               extra_default_hooks: Optional[Dict[str, dict]],
               out_path: str, log_path: str) -> None:
    """One DDP process (forked): train on the CPU with gloo, write the
    final training state and the metrics to ``out_path``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = open(1, 'w', buffering=1, closefd=False)
    import torch
    torch.set_num_threads(1)  # forked: no OpenMP pool from the parent
    os.environ.update(CUDA_VISIBLE_DEVICES='', MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    result = RunResult()
    runner = build_runner(config, options, work_dir,
                          f'method_check_ddp_{os.getpid()}',
                          launcher='pytorch',
                          extra_default_hooks=extra_default_hooks)
    types = custom_hook_types(runner)
    runner.register_hook(Recorder(result, types, 'last', end=True),
                         'LOWEST')
    runner.train()
    result.extra['world_size'] = runner.world_size
    result.extra['wrapper'] = type(runner.model).__name__
    with open(out_path, 'wb') as f:
        pickle.dump(result, f)
    from clst_mmseg.apis import close_distributed
    close_distributed()


def train_ddp(config: str, options: Dict[str, Any], work_dir: str,
              extra_default_hooks: Optional[Dict[str, dict]] = None,
              world: int = 2, timeout_s: int = 300) -> List[RunResult]:
    """Train a config in ``world`` forked processes under DDP on the CPU
    (``options`` name the gloo backend and its timeout).

    Returns:
        list[RunResult]: One per rank (``error`` set for a rank that
        failed or timed out; its ``log`` holds the rank's console).
    """
    os.makedirs(work_dir, exist_ok=True)
    ctx = multiprocessing.get_context('fork')
    port = free_port()
    procs, outs, logs = [], [], []
    for rank in range(world):
        out = osp.join(work_dir, f'rank{rank}.pkl')
        log = osp.join(work_dir, f'rank{rank}.log')
        for path in (out, log):
            if osp.exists(path):
                os.remove(path)
        outs.append(out)
        logs.append(log)
        procs.append(ctx.Process(
            target=_rank_main,
            args=(rank, world, port, config, options, work_dir,
                  extra_default_hooks, out, log),
            daemon=True))
    sys.stdout.flush()
    sys.stderr.flush()
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(p.is_alive() for p in procs):
        if any(p.exitcode not in (None, 0) for p in procs):
            break  # one rank failed: the others wait in a collective
        time.sleep(0.1)
    timed_out = any(p.is_alive() for p in procs) and \
        all(p.exitcode in (None, 0) for p in procs)
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join()
    results = []
    for rank, p in enumerate(procs):
        try:
            with open(outs[rank], 'rb') as f:
                result = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError):
            result = RunResult()
        with open(logs[rank], errors='replace') as f:
            result.log = f.read()
        if p.exitcode != 0 or result.error is None and not result.states:
            result.error = (f'timed out after {timeout_s} s' if timed_out
                            else _last_error(result.log) or
                            f'exit code {p.exitcode}')
        results.append(result)
    return results


def _last_error(log: str) -> Optional[str]:
    """The exception line a traceback in a log ends with."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith('Traceback'):
            tail = [ln for ln in lines[i:] if not ln.startswith(' ')]
            return tail[-1] if len(tail) > 1 else None
    return None
