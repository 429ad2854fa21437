"""Everything a training holds at one moment, flattened into named plain
values that two runs can compare: the model's parameters, buffers and other
attributes, the optimizers and schedulers, the state of the config's custom
hooks and the random number generators."""
import inspect
import logging
import random
import re
import types
from typing import Any, Dict, Iterable, List

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.utils import ManagerMixin
from torch import nn
from torch.utils.data import DataLoader, Dataset

#: Attributes every ``nn.Module`` has (hooks, flags, the registries of
#: parameters, buffers and children): not a method's state.
MODULE_INTERNALS = frozenset(vars(nn.Module())) | {'_is_init', 'init_cfg'}
#: Containers deeper than this are not followed.
MAX_DEPTH = 8


def _skipped(value: Any) -> bool:
    """Values that are not training state: networks (their tensors are
    taken from the model itself), data, the runner and its config, loggers
    and other global managers, code."""
    return isinstance(value, (nn.Module, Dataset, DataLoader, Runner, Config,
                              ManagerMixin, logging.Logger, types.ModuleType,
                              type)) or inspect.isroutine(value)


def flatten(value: Any, name: str, out: Dict[str, Any],
            depth: int = 0) -> None:
    """Add the leaves of ``value`` to ``out`` under dotted names: tensors
    and arrays (copied), numbers, strings, None, and the lengths of
    containers; objects are followed through their ``__dict__``, random
    generators through their state.

    Args:
        value: What to flatten.
        name (str): Its name.
        out (dict): Name -> leaf, filled in place.
        depth (int): Nesting depth so far.
    """
    if _skipped(value):
        return
    if isinstance(value, torch.Tensor):
        out[name] = value.detach().cpu().clone()
    elif isinstance(value, np.ndarray):
        out[name] = value.copy()
    elif isinstance(value, np.generic):
        out[name] = value.item()
    elif value is None or isinstance(value, (bool, int, float, str, bytes)):
        out[name] = value
    elif isinstance(value, torch.Generator):
        out[name] = value.get_state()
    elif isinstance(value, random.Random):
        out[name] = value.getstate()
    elif isinstance(value, np.random.Generator):
        flatten(value.bit_generator.state, name, out, depth + 1)
    elif isinstance(value, np.random.RandomState):
        out[name] = value.get_state()[1].copy()
    elif depth >= MAX_DEPTH:
        return
    elif isinstance(value, dict):
        out[f'{name}#len'] = len(value)
        for key, item in value.items():
            flatten(item, f'{name}.{key}', out, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(
            value, (set, frozenset)) else value
        out[f'{name}#len'] = len(items)
        for i, item in enumerate(items):
            flatten(item, f'{name}[{i}]', out, depth + 1)
    elif hasattr(value, '__dict__'):
        for key, item in vars(value).items():
            flatten(item, f'{name}.{key}', out, depth + 1)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def model_state(model: nn.Module) -> Dict[str, Any]:
    """``param:<name>``, ``buffer:<name>`` (persistent or not) and
    ``attr:<module>/<attribute>`` (every other attribute of every
    submodule; ``attr:/<attribute>`` of the model itself) of a model; DDP
    wrappers (also those put in place around submodules) are seen
    through."""
    model = unwrap(model)
    out: Dict[str, Any] = {}
    for name, param in model.named_parameters():
        out[f'param:{_plain_name(name)}'] = param.detach().cpu().clone()
    for name, buf in model.named_buffers():
        out[f'buffer:{_plain_name(name)}'] = buf.detach().cpu().clone()
    for path, module in model.named_modules():
        if is_model_wrapper(module):
            continue
        prefix = f'attr:{_plain_name(path)}/'
        for key, value in vars(module).items():
            if key not in MODULE_INTERNALS:
                flatten(value, prefix + key, out)
    return out


def _plain_name(name: str) -> str:
    """A parameter name without the ``.module`` of an in-place DDP
    wrapper (``MMSeparateDistributedDataParallel``)."""
    return name.replace('.module.', '.').removesuffix('.module')


def rng_state() -> Dict[str, Any]:
    """The global generators ``RNGStateHook`` keeps."""
    out = {'rng:torch': torch.get_rng_state()}
    out['rng:numpy'] = np.random.get_state()[1].copy()
    flatten(random.getstate(), 'rng:python', out)
    return out


def training_state(runner, hook_types: Iterable[str],
                   rng: bool = True) -> Dict[str, Any]:
    """Everything a run holds that may change while it trains.

    Args:
        runner (Runner): A built runner.
        hook_types (list[str]): Class names of the hooks whose state is
            taken (the config's ``custom_hooks``); mmengine's own hooks keep
            bookkeeping, not a method's state.
        rng (bool): Also the global random generators. Defaults to True.

    Returns:
        dict: Name -> plain value (``param:``, ``buffer:``, ``attr:``,
        ``optim:``, ``sched:``, ``hook:<Type>.``, ``rng:``).
    """
    out = model_state(runner.model)
    wrapper = getattr(runner, 'optim_wrapper', None)
    if wrapper is not None and hasattr(wrapper, 'state_dict'):
        for key, value in wrapper.state_dict().items():
            flatten(value, f'optim:{key}', out)
    schedulers = getattr(runner, 'param_schedulers', None) or []
    if isinstance(schedulers, dict):
        schedulers = [s for group in schedulers.values() for s in group]
    for i, scheduler in enumerate(schedulers):
        flatten(scheduler.state_dict(), f'sched:{i}', out)
    wanted = set(hook_types)
    for hook in runner.hooks:
        if type(hook).__name__ in wanted:
            flatten(vars(hook), f'hook:{type(hook).__name__}', out)
    if rng:
        out.update(rng_state())
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.is_floating_point() or a.is_complex():
            nan = a.isnan()
            return torch.equal(nan, b.isnan()) and torch.equal(a[~nan],
                                                               b[~nan])
        return torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return np.array_equal(np.asarray(a), np.asarray(b),
                                  equal_nan=np.asarray(a).dtype.kind in 'fc')
        except TypeError:
            return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def differences(a: Dict[str, Any], b: Dict[str, Any],
                names: Iterable[str] = None) -> List[str]:
    """The names (of ``names``, or of either state) whose values differ
    or that only one state has, sorted."""
    keys = set(a) | set(b) if names is None else set(names)
    return sorted(k for k in keys
                  if (k in a) != (k in b) or not _same(a.get(k), b.get(k)))


def owner(name: str) -> str:
    """The piece of state a leaf belongs to: a parameter or buffer, one
    attribute of a module or of a hook, one generator, the optimizers, one
    scheduler; e.g. ``hook:TemporalEnsembleHook.memory`` for
    ``hook:TemporalEnsembleHook.memory.codes``."""
    kind, _, rest = name.partition(':')
    if kind in ('param', 'buffer'):
        return name
    if kind == 'attr':
        module, _, attr = rest.partition('/')
        return f'attr:{module}/{_head(attr)}'
    if kind == 'hook':
        hook, _, attr = rest.partition('.')
        return f'hook:{hook}.{_head(attr)}'
    if kind in ('rng', 'sched'):
        return f'{kind}:{_head(rest)}'
    return kind


def _head(path: str) -> str:
    return re.split(r'[.\[#]', path, maxsplit=1)[0]


def owners(names: Iterable[str]) -> List[str]:
    """The distinct pieces of state (:func:`owner`) the names belong to,
    in order."""
    out: List[str] = []
    for name in names:
        piece = owner(name)
        if piece not in out:
            out.append(piece)
    return out


def describe(piece: str) -> str:
    """A piece of state (:func:`owner`) in words, e.g. ``model.step``,
    ``TemporalEnsembleHook.memory``, ``the torch random generator``."""
    kind, _, rest = piece.partition(':')
    if kind in ('param', 'buffer'):
        return f'model.{rest}'
    if kind == 'attr':
        module, _, attr = rest.partition('/')
        return 'model.' + (f'{module}.{attr}' if module else attr)
    if kind == 'hook':
        return rest
    if kind == 'rng':
        return f'the {rest} random generator'
    if kind == 'sched':
        return f'param_scheduler {rest}'
    return 'the optimizer state'
