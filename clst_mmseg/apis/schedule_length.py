"""What follows ``train_cfg.max_iters`` when a command changes it.

``--cfg-options train_cfg.max_iters=N`` (or a suite's ``overrides``)
changes the length of a run. The lengths a config derives from its own
``max_iters`` follow it, unless the same command sets them:

- a ``param_scheduler`` entry whose ``end`` is the config's ``max_iters``
  (or ``max_iters + 1``, the end that gives mmcv's exact poly rates) ends
  at ``N`` (``N + 1``); one that ends earlier (a warm-up of fixed length)
  keeps its end, and is named when it does not end before ``N``;
- ``default_hooks.logger.interval`` becomes at most ``N // 10``, so that a
  short run logs its loss about ten times.

Warm-ups given as ratios (``model.warmup_ratio``), CBST's rounds and the
trajectory's validations (``trajectory_points``) are fractions of
``max_iters`` already. ``tools/train.py`` (through
:func:`~.config.load_config`) and the benchmark's run identity
(:func:`clst_mmseg.benchmark.identity.resolve_config`) both merge overrides
with :func:`merge_overrides`, so a run trains the config its id was hashed
from. Light: no torch, no mmseg.
"""
from typing import Any, Dict, List, Optional

from .config_checks import NEW_KEY_PREFIX, merge_cfg_options

#: The loss is logged at least this many times in a run whose length a
#: command changed.
LOG_LINES = 10


def _max_iters(cfg) -> Optional[int]:
    train_cfg = cfg.get('train_cfg')
    value = train_cfg.get('max_iters') if isinstance(train_cfg,
                                                     dict) else None
    return value if isinstance(value, int) and not isinstance(
        value, bool) else None


def _set_by(keys: set, path: str) -> bool:
    """Whether an override key sets ``path`` or a dict/list holding it."""
    parts = path.split('.')
    return any('.'.join(parts[:i]) in keys for i in range(1, len(parts) + 1))


def follow_max_iters(cfg, old: Optional[int],
                     options: Optional[Dict[str, Any]]) -> List[str]:
    """Rewrite what follows ``max_iters`` after ``options`` changed it from
    ``old`` (see the module docstring).

    Args:
        cfg (Config): The merged config (changed in place).
        old (int, optional): ``train_cfg.max_iters`` before the overrides.
        options (dict, optional): The overrides (dotted keys, ``+`` allowed).

    Returns:
        list[str]: What changed and what did not, one phrase each (empty
        when the overrides leave ``max_iters`` alone).
    """
    keys = {k[len(NEW_KEY_PREFIX):] if k.startswith(NEW_KEY_PREFIX) else k
            for k in options or {}}
    new = _max_iters(cfg)
    if not _set_by(keys, 'train_cfg.max_iters') or old is None or \
            new is None or new < 1 or new == old:
        return []  # unchanged, or out of range (check_values says so)
    notes = [f'train_cfg.max_iters {old} -> {new}']
    schedulers = cfg.get('param_scheduler')
    if isinstance(schedulers, dict):
        entries = [('param_scheduler', schedulers)]
    else:
        entries = [(f'param_scheduler.{i}', s)
                   for i, s in enumerate(schedulers or [])
                   if isinstance(s, dict)]
    for path, sched in entries:
        end = sched.get('end')
        if not isinstance(end, int) or sched.get('by_epoch', True):
            continue  # mmengine's default end (never) or an epoch count
        name = f"{path}.end ({sched.get('type', 'scheduler')})"
        if _set_by(keys, f'{path}.end'):
            notes.append(f'{name} {end} as set')
        elif end - old in (0, 1):
            sched['end'] = new + (end - old)
            notes.append(f"{name} {end} -> {sched['end']}")
        elif end < old:
            notes.append(f'{name} {end} kept (a fixed length)' +
                         (f', not reached within {new} iterations'
                          if end > new else ''))
        else:
            notes.append(f'{name} {end} kept (not the config\'s '
                         f'max_iters {old})')
    logger = (cfg.get('default_hooks') or {}).get('logger')
    interval = logger.get('interval') if isinstance(logger, dict) else None
    if isinstance(interval, int) and not _set_by(
            keys, 'default_hooks.logger.interval'):
        target = max(1, new // LOG_LINES)
        if interval > target:
            logger['interval'] = target
            notes.append(f'default_hooks.logger.interval {interval} -> '
                         f'{target}')
    return notes


def merge_overrides(cfg, options: Optional[Dict[str, Any]]) -> List[str]:
    """Merge ``--cfg-options`` / suite overrides into ``cfg`` (checked:
    :func:`~.config_checks.merge_cfg_options`), then make the lengths
    derived from ``max_iters`` follow a changed ``max_iters``
    (:func:`follow_max_iters`).

    Args:
        cfg (Config): The config (changed in place).
        options (dict, optional): Dotted key -> value.

    Returns:
        list[str]: What followed ``max_iters`` and what did not (empty when
        it did not change).
    """
    old = _max_iters(cfg)
    merge_cfg_options(cfg, options)
    return follow_max_iters(cfg, old, options)


def schedule_line(notes: List[str]) -> Optional[str]:
    """The one line a tool prints for :func:`merge_overrides`' notes."""
    return f"schedule: {'; '.join(notes)}" if notes else None
