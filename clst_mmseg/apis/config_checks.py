"""Checks of a config before anything is built, each failing with one line
that names the config key path:

- :func:`merge_cfg_options`: ``--cfg-options`` (and the benchmark's suite
  overrides) may only override keys the config has; a new key is marked
  with a ``+`` prefix (as in Hydra): ``+model.segmentor.foo=1``.
- :func:`check_values`: numbers that are out of range (``max_iters`` <= 0,
  ``batch_size`` 0, a negative learning rate ...), see :data:`VALUE_RULES`.
- :func:`check_model_args`: keys of a model part (backbone, decode_head,
  discriminator ...) that its registered class does not take
  (``num_clases``, ``dept``), read from the ``__init__`` signatures; nothing
  is built.
"""
import difflib
import fnmatch
import inspect
import numbers
from typing import Any, Dict, Iterator, List, Optional, Tuple

#: Prefix of a ``--cfg-options`` key that may be absent from the config.
NEW_KEY_PREFIX = '+'
#: Top-level keys mmengine's runner reads that configs usually leave to the
#: tools (``--work-dir``, ``--launcher``); overriding them is not a typo.
RUNTIME_KEYS = ('work_dir', 'launcher')

#: ``(key pattern, kind, lowest, highest, also allowed)``: a key of the
#: resolved config that matches a pattern (``fnmatch`` on the dotted path,
#: list items by index) must hold a ``kind`` within [lowest, highest] or one
#: of the values also allowed.
VALUE_RULES: Tuple[Tuple[str, type, Optional[float], Optional[float],
                         tuple], ...] = (
    ('train_cfg.max_iters', int, 1, None, ()),
    ('train_cfg.max_epochs', int, 1, None, ()),
    ('train_cfg.val_interval', int, 1, None, ()),
    ('*_dataloader.batch_size', int, 1, None, ()),
    ('*_dataloader.num_workers', int, 0, None, ()),
    # numpy seeds are 32-bit; None draws one
    ('randomness.seed', int, 0, 2**32 - 1, (None, )),
    ('default_hooks.logger.interval', int, 1, None, ()),
    # -1: never (mmengine's CheckpointHook)
    ('default_hooks.checkpoint.interval', int, 1, None, (-1, )),
    ('default_hooks.checkpoint.max_keep_ckpts', int, -1, None, ()),
    ('optim_wrapper.*.lr', numbers.Real, 0, None, ()),
    ('optim_wrapper.*.lr_mult', numbers.Real, 0, None, ()),
    ('param_scheduler.*.end', int, 1, None, ()),
    ('model.*num_classes', int, 1, None, ()),
)


def _kind_name(kind: type) -> str:
    return 'a number' if kind is numbers.Real else f'an {kind.__name__}'


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


def _value_problem(value: Any, kind: type, lo, hi, extra: tuple) -> bool:
    if any(value is e or (value == e and type(value) is type(e))
           for e in extra):
        return False
    if isinstance(value, bool) or not isinstance(value, kind):
        return True
    return (lo is not None and value < lo) or (hi is not None and value > hi)


def check_values(cfg) -> None:
    """Stop on an out-of-range value (see :data:`VALUE_RULES`).

    Args:
        cfg (Config | dict): The resolved config.

    Raises:
        ValueError: One line naming the key, the value and what was
            expected.
    """
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg
    for key, value in _leaves(data):
        for pattern, kind, lo, hi, extra in VALUE_RULES:
            if not fnmatch.fnmatchcase(key, pattern):
                continue
            if _value_problem(value, kind, lo, hi, extra):
                bounds = (f' >= {lo}' if hi is None else
                          f' in [{lo}, {hi}]') if lo is not None else ''
                also = ''.join(f' or {e!r}' for e in extra)
                raise ValueError(f'{key}: expected {_kind_name(kind)}'
                                 f'{bounds}{also}, got {value!r}')


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
    from mmseg.registry import MODELS
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    for path, part in _model_parts(dict(model), 'model'):
        cls = MODELS.get(part['type']) if isinstance(part.get('type'),
                                                     str) else None
        if not inspect.isclass(cls):
            continue
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


def check_config(cfg) -> None:
    """The value and model-argument checks (see the module docstring)."""
    check_values(cfg)
    check_model_args(cfg)
