"""Checks of a config before anything is built, each failing with one line
that names the config key path:

- :func:`merge_cfg_options`: ``--cfg-options`` (and the benchmark's suite
  overrides) may only override keys the config has; a new key is marked
  with a ``+`` prefix (as in Hydra): ``+model.segmentor.foo=1``.
- :func:`check_values`: numbers that are out of range or not finite
  (``max_iters`` <= 0, ``batch_size`` 0, a negative or NaN learning rate, a
  weight decay that is not a number ...), see :data:`VALUE_RULES`.
- :func:`check_model_args`: keys of a model part (backbone, decode_head,
  discriminator ...) that its registered class does not take
  (``num_clases``, ``dept``), read from the ``__init__`` signatures; nothing
  is built.
- :func:`check_knobs`: the numeric knobs of a method (or any model part)
  against the ranges its class declares in ``knob_ranges``.

Ranges are written as intervals, the same way everywhere
(:class:`ValueRange`): ``'[0, 1)'`` (a finite number, 0 <= x < 1),
``'(0, inf)'`` (> 0), ``'int [1, inf)'`` (an int >= 1), with allowed extra
values after ``or``: ``'[0, 1) or None'``, ``'int [1, inf) or -1'``. NaN
and +-inf are never in range.

**How a method declares its knobs** (the shipped segmentors, heads,
losses and discriminators, and a user's own class alike): a class
attribute ``knob_ranges`` maps each constructor argument (dotted for a key
of a dict argument, ``*`` for every key or list item) to its range::

    @MODELS.register_module()
    class MyMethod(UDASegmentor):
        knob_ranges = {
            'my_weight': '[0, inf)',
            'warmup_iters': 'int [0, inf)',
            'pseudo_label.threshold': '[0, 1]',
            'lambda_adv.*': '[0, inf)',
        }

Subclasses inherit their bases' ranges and may override them; a knob the
config does not set keeps the constructor's default (not checked). Every
dict under ``model`` whose ``type`` names a registered class is checked.
"""
import difflib
import fnmatch
import inspect
import math
import numbers
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

#: Prefix of a ``--cfg-options`` key that may be absent from the config.
NEW_KEY_PREFIX = '+'
#: Top-level keys mmengine's runner reads that configs usually leave to the
#: tools (``--work-dir``, ``--launcher``); overriding them is not a typo.
RUNTIME_KEYS = ('work_dir', 'launcher')

#: ``(key pattern, range)``: a key of the resolved config that matches a
#: pattern (``fnmatch`` on the dotted path, list items by index) must hold
#: a value in that range (see :class:`ValueRange`).
VALUE_RULES: Tuple[Tuple[str, str], ...] = (
    ('train_cfg.max_iters', 'int [1, inf)'),
    ('train_cfg.max_epochs', 'int [1, inf)'),
    ('train_cfg.val_interval', 'int [1, inf)'),
    ('*_dataloader.batch_size', 'int [1, inf)'),
    ('*_dataloader.num_workers', 'int [0, inf)'),
    # numpy seeds are 32-bit; None draws one
    ('randomness.seed', 'int [0, 4294967295] or None'),
    ('default_hooks.logger.interval', 'int [1, inf)'),
    # -1: never (mmengine's CheckpointHook)
    ('default_hooks.checkpoint.interval', 'int [1, inf) or -1'),
    ('default_hooks.checkpoint.max_keep_ckpts', 'int [-1, inf)'),
    # every optimizer (the segmentor's, the discriminators' ...)
    ('optim_wrapper.*.lr', '[0, inf)'),
    ('optim_wrapper.*.lr_mult', '[0, inf)'),
    ('optim_wrapper.*.decay_mult', '[0, inf)'),
    ('optim_wrapper.*.weight_decay', '[0, inf)'),
    ('optim_wrapper.*.momentum', '[0, 1]'),
    ('optim_wrapper.*.dampening', '[0, 1]'),
    ('optim_wrapper.*.betas.*', '[0, 1)'),
    ('optim_wrapper.*.eps', '[0, inf)'),
    ('optim_wrapper.*.max_norm', '(0, inf)'),
    ('optim_wrapper.*accumulative_counts', 'int [1, inf)'),
    # mmengine's schedulers (poly, step, linear warm-up, cosine ...)
    ('param_scheduler.*.begin', 'int [0, inf)'),
    ('param_scheduler.*.end', 'int [1, inf)'),
    ('param_scheduler.*.power', '[0, inf)'),
    ('param_scheduler.*.eta_min', '[0, inf)'),
    ('param_scheduler.*.eta_min_ratio', '[0, inf)'),
    ('param_scheduler.*.gamma', '[0, inf)'),
    ('param_scheduler.*.factor', '[0, inf)'),
    ('param_scheduler.*.start_factor', '[0, inf)'),
    ('param_scheduler.*.end_factor', '[0, inf)'),
    ('param_scheduler.*.T_max', 'int [1, inf)'),
    ('param_scheduler.*.milestones.*', 'int [0, inf)'),
    ('model.*num_classes', 'int [1, inf)'),
)

_NUMBER = r'[-+]?(?:inf|\d+(?:\.\d*)?(?:e[-+]?\d+)?)'
_RANGE = re.compile(
    rf'^(int )?([\[(])({_NUMBER}), ({_NUMBER})([\])])((?: or \S+)*)$')


class ValueRange:
    """A range written as an interval: ``'[0, 1)'``, ``'(0, inf)'``,
    ``'int [1, inf) or -1'``, ``'[0, 1) or None'`` (see the module
    docstring). A value is in range when it is one of the values after
    ``or``, or a finite number (an ``int`` for ``int`` ranges; never a
    bool) within the interval.

    Args:
        spec (str): The range.

    Raises:
        ValueError: ``spec`` is not written that way.
    """

    def __init__(self, spec: str) -> None:
        m = _RANGE.match(' '.join(str(spec).split()))
        if m is None:
            raise ValueError(
                f'range {spec!r}: expected an interval such as '
                "'[0, 1)', '(0, inf)' or 'int [1, inf) or None'")
        kind, left, lo, hi, right, also = m.groups()
        self.spec = spec
        self.integer = bool(kind)
        self.lo, self.hi = float(lo), float(hi)
        self.lo_open, self.hi_open = left == '(', right == ')'
        self.also = tuple(None if a == 'None' else _literal(a, spec)
                          for a in also.split(' or ')[1:])

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is in range."""
        if any(value is a or (value == a and type(value) is type(a))
               for a in self.also):
            return True
        if isinstance(value, bool) or not isinstance(
                value, numbers.Integral if self.integer else numbers.Real):
            return False
        if not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def describe(self) -> str:
        """E.g. ``'an int >= 1 or -1'``, ``'a finite number in [0, 1)'``."""
        kind = 'an int' if self.integer else 'a finite number'
        lo, hi = (_number(v) for v in (self.lo, self.hi))
        if math.isinf(self.lo) and math.isinf(self.hi):
            bounds = ''
        elif math.isinf(self.hi):
            bounds = f' {">" if self.lo_open else ">="} {lo}'
        elif math.isinf(self.lo):
            bounds = f' {"<" if self.hi_open else "<="} {hi}'
        else:
            bounds = (f' in {"(" if self.lo_open else "["}{lo}, '
                      f'{hi}{")" if self.hi_open else "]"}')
        return kind + bounds + ''.join(f' or {a!r}' for a in self.also)


def _literal(text: str, spec: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f'range {spec!r}: {text!r} after "or" is neither a '
                     'number nor None')


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _child(node: Any, part: str) -> Tuple[bool, Any]:
    """``(found, value)`` of one dotted-path component (dict key or list
    index)."""
    if isinstance(node, dict):
        return (part in node), node.get(part)
    if isinstance(node, (list, tuple)) and part.isdigit():
        i = int(part)
        return i < len(node), (node[i] if i < len(node) else None)
    return False, None


def missing_key(cfg: Dict, key: str) -> Optional[str]:
    """Why ``key`` (dotted, list items by index) is not in ``cfg``, or None
    if it is."""
    node, path = cfg, []
    for part in key.split('.'):
        found, value = _child(node, part)
        if not found:
            where = '.'.join(path) or 'the top level'
            if isinstance(node, dict):
                close = difflib.get_close_matches(part, [str(k) for k in node],
                                                  n=1)
                hint = (f"; did you mean {'.'.join(path + close)!r}?"
                        if close else '')
                return f'{where} has no key {part!r}{hint}'
            if isinstance(node, (list, tuple)):
                return (f'{where} is a list of {len(node)} item(s); '
                        f'{part!r} is not an index of it')
            return f'{where} is {node!r}, not a dict'
        node = value
        path.append(part)
    return None


def merge_cfg_options(cfg, options: Optional[Dict[str, Any]]) -> None:
    """Merge ``--cfg-options`` into ``cfg`` (mmengine's ``merge_from_dict``)
    after checking that every key exists, so a typo is not silently added as
    a new key. A key written ``+a.b`` may be new.

    Args:
        cfg (Config): The config (changed in place).
        options (dict, optional): Dotted key -> value.

    Raises:
        ValueError: One line naming the first key that the config lacks.
    """
    if not options:
        return
    data = cfg.to_dict()
    plain = {}
    for key, value in options.items():
        if key.startswith(NEW_KEY_PREFIX):
            key = key[len(NEW_KEY_PREFIX):]
            if not key:
                raise ValueError(f'--cfg-options {NEW_KEY_PREFIX}: empty key')
        elif key not in RUNTIME_KEYS:
            why = missing_key(data, key)
            if why is not None:
                raise ValueError(
                    f'{key}: not a key of the config ({why}); to add a new '
                    f'key, write {NEW_KEY_PREFIX}{key}=...')
        plain[key] = value
    cfg.merge_from_dict(plain)


def _leaves(node: Any, prefix: str = '') -> Iterator[Tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f'{prefix}{k}.')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _leaves(v, f'{prefix}{i}.')
    else:
        yield prefix[:-1], node


def check_values(cfg) -> None:
    """Stop on an out-of-range value (see :data:`VALUE_RULES`).

    Args:
        cfg (Config | dict): The resolved config.

    Raises:
        ValueError: One line naming the key, the value and what was
            expected.
    """
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg
    rules = [(pattern, ValueRange(spec)) for pattern, spec in VALUE_RULES]
    for key, value in _leaves(data):
        for pattern, rule in rules:
            if fnmatch.fnmatchcase(key, pattern) and not rule.contains(value):
                raise ValueError(f'{key}: expected {rule.describe()}, got '
                                 f'{value!r}')


# --- constructor arguments of model parts ----------------------------------


def _accepted(cls: type) -> Optional[List[str]]:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the
    MRO (mmseg's heads pass them to ``BaseDecodeHead``); None when a class
    forwards ``**kwargs`` to something that cannot be read."""
    import torch.nn as nn
    names: List[str] = []
    for klass in cls.__mro__:
        if klass in (nn.Module, object):
            return names
        if '__init__' not in vars(klass):
            continue
        try:
            params = inspect.signature(vars(klass)['__init__']).parameters
        except (TypeError, ValueError):
            return None
        names += [p.name for p in params.values() if p.name != 'self'
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
    return None


def _model_parts(node: Dict, prefix: str) -> Iterator[Tuple[str, Dict]]:
    """``(key path, dict)`` of the model and every sub-dict with a ``type``
    (lists included), except ``*_cfg`` ones (norm_cfg, init_cfg ...), which
    helpers build with keys of their own (``requires_grad``)."""
    yield prefix, node
    for key, value in node.items():
        if not isinstance(key, str) or key.endswith('_cfg'):
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get('type'), str):
                path = f'{prefix}.{key}' + (
                    f'.{i}' if isinstance(value, (list, tuple)) else '')
                yield from _model_parts(item, path)


def _registered_parts(cfg) -> Iterator[Tuple[str, Dict, type]]:
    """``(key path, dict, class)`` of every dict under ``model`` whose
    ``type`` is a registered class in mmseg's ``MODELS``."""
    from mmseg.registry import MODELS
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    for path, part in _model_parts(dict(model), 'model'):
        cls = MODELS.get(part['type']) if isinstance(part.get('type'),
                                                     str) else None
        if inspect.isclass(cls):
            yield path, part, cls


def check_model_args(cfg) -> None:
    """Stop on a key of a model part that its class does not take.

    Every dict under ``model`` whose ``type`` is a registered class in
    mmseg's ``MODELS`` is held to that class's ``__init__`` (and its bases'
    when it forwards ``**kwargs``). Nothing is built.

    Args:
        cfg (Config | dict): The resolved config.

    Raises:
        ValueError: One line naming the key path and the class.
    """
    for path, part, cls in _registered_parts(cfg):
        accepted = _accepted(cls)
        if accepted is None:
            continue
        for key in part:
            if key == 'type' or key in accepted:
                continue
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f'; did you mean {close[0]!r}?' if close else ''
            raise ValueError(f'{path}.{key}: {cls.__name__} takes no '
                             f'argument {key!r}{hint}')


# --- ranges of the knobs a class declares ----------------------------------


def knob_ranges(cls: type) -> Dict[str, ValueRange]:
    """The ranges ``cls`` declares in ``knob_ranges`` (see the module
    docstring), its bases' included; a subclass's entry replaces its
    base's.

    Raises:
        ValueError: A declared range that is not written as an interval,
            naming the class and the knob.
    """
    ranges: Dict[str, ValueRange] = {}
    for klass in reversed(cls.__mro__):
        for pattern, spec in (vars(klass).get('knob_ranges') or {}).items():
            try:
                ranges[pattern] = ValueRange(spec)
            except ValueError as e:
                raise ValueError(f'{klass.__name__}.knob_ranges[{pattern!r}]'
                                 f': {e}') from None
    return ranges


def check_knobs(cfg) -> None:
    """Stop on a knob of a model part (a method's loss weights, thresholds,
    momenta ...) that is outside the range its class declares, or not a
    finite number.

    Args:
        cfg (Config | dict): The resolved config.

    Raises:
        ValueError: One line naming the key path, the class, what it
            expects and the value.
    """
    for path, part, cls in _registered_parts(cfg):
        ranges = knob_ranges(cls)
        if not ranges:
            continue
        for key, value in _leaves(part):
            for pattern, rule in ranges.items():
                if fnmatch.fnmatchcase(key, pattern) and \
                        not rule.contains(value):
                    raise ValueError(f'{path}.{key}: {cls.__name__} expects '
                                     f'{rule.describe()}, got {value!r}')


def check_config(cfg) -> None:
    """The value, model-argument and knob checks (see the module
    docstring)."""
    check_values(cfg)
    check_model_args(cfg)
    check_knobs(cfg)
