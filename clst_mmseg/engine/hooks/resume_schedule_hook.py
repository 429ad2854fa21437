"""Says, at a resume, what changes when the run's schedule differs from the
checkpoint's (another ``max_iters``)."""
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from .trajectory_hook import CheckpointTrajectoryHook, validation_interval

#: Validation steps listed before "...".
_SHOWN_STEPS = 5


def _flat_schedulers(schedulers) -> List:
    """mmengine's built schedulers (a list, or optimizer name -> list) as
    ``(index in the config list, scheduler)`` pairs."""
    if isinstance(schedulers, dict):
        return [(i, s) for group in schedulers.values()
                for i, s in enumerate(group)]
    return list(enumerate(schedulers or []))


@HOOKS.register_module()
class ResumeScheduleHook(Hook):
    """Logs, when a run resumes with a ``max_iters`` other than the one
    its checkpoint was trained towards, what that changes from the resumed
    iteration on:

    - parameter schedulers: mmengine restores each scheduler's state, its
      ``begin``/``end`` included, so a schedule end the config moved (see
      :mod:`clst_mmseg.apis.schedule_length`) does not apply: the
      checkpoint's end does, and after it the learning rate stays where it
      ended;
    - warm-ups given as a ratio of ``max_iters`` (``model.warmups()``)
      start elsewhere;
    - the trajectory's validations (``max_iters // trajectory_points``)
      come at another interval, so the steps that are scored (and
      checkpointed) are no longer evenly spaced.

    Our tools add it to every runner they build
    (:func:`clst_mmseg.apis.runner_hooks.register_tool_hooks`).
    """

    # before_train: after RuntimeInfoHook (max_iters), the trajectory hook
    # (validation interval) and the warm-up check
    priority = 'LOWEST'

    def __init__(self) -> None:
        self._old_max_iters: Optional[int] = None

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        if not runner.cfg.get('resume'):
            return  # load_from: weights only, a fresh schedule
        info = (checkpoint.get('message_hub') or {}).get('runtime_info', {})
        old = info.get('max_iters')
        self._old_max_iters = old if isinstance(old, int) else None

    def before_train(self, runner) -> None:
        old, new = self._old_max_iters, runner.max_iters
        if old is None or old == new or runner.iter == 0:
            return
        lines = [f'resumed at iteration {runner.iter} with max_iters {new}; '
                 f'the checkpoint was trained towards max_iters {old}. From '
                 'here on:']
        if new <= runner.iter:
            lines.append(f'  nothing is left to train (max_iters {new} <= '
                         f'iteration {runner.iter})')
        lines += self._schedulers(runner)
        lines += self._warmups(runner, old)
        lines += self._validations(runner, old)
        for line in lines:
            runner.logger.warning(line)

    @staticmethod
    def _schedulers(runner) -> List[str]:
        cfg = runner.cfg.get('param_scheduler')
        cfg = [cfg] if isinstance(cfg, dict) else list(cfg or [])
        lines = []
        for i, sched in _flat_schedulers(runner.param_schedulers):
            want = cfg[i].get('end') if i < len(cfg) else None
            end = getattr(sched, 'end', None)
            if want is None or end is None or want == end:
                continue
            line = (f'  param_scheduler.{i} ({type(sched).__name__}) ends '
                    f"at the checkpoint's {end}, not at the config's {want} "
                    "(mmengine restores a scheduler's state on resume)")
            if end <= runner.iter:
                lrs = ', '.join(f'{lr:.3g}' for lr in sorted(
                    {g['lr'] for g in sched.optimizer.param_groups}))
                line += (f': the learning rate stays {lrs} up to iteration '
                         f'{runner.max_iters}')
            if line not in lines:
                lines.append(line)
        if lines:
            lines.append('  (a longer schedule is a new run; load_from=CKPT '
                         'starts a fresh schedule from its weights)')
        return lines

    @staticmethod
    def _warmups(runner, old: int) -> List[str]:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'warmups'):
            return []
        hub = runner.message_hub
        now = model.warmups()
        hub.update_info('max_iters', old)
        try:
            before = model.warmups()
        finally:
            hub.update_info('max_iters', runner.max_iters)
        moved = [f'{term} from iteration {start} (was {before.get(term)})'
                 for term, start in now.items()
                 if before.get(term) != start]
        return [f'  {type(model).__name__}: ' + ', '.join(moved)] \
            if moved else []

    @staticmethod
    def _validations(runner, old: int) -> List[str]:
        hook = next((h for h in runner.hooks
                     if isinstance(h, CheckpointTrajectoryHook)), None)
        if hook is None or not getattr(hook, '_active', False):
            return []
        interval = runner.train_loop.val_interval
        before = validation_interval(old, hook.num_points)
        if interval == before:
            return []
        steps = [s for s in range(runner.iter + 1, runner.max_iters + 1)
                 if s % interval == 0 or s == runner.max_iters]
        shown = ', '.join(map(str, steps[:_SHOWN_STEPS])) + (
            ', ...' if len(steps) > _SHOWN_STEPS else '')
        return [f'  validations (trajectory points) every {interval} '
                f'iterations (was {before}): at {shown or "none"}']
