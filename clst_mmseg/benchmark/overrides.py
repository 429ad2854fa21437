"""Suite overrides <-> ``--cfg-options`` strings.

A suite's overrides reach ``tools/train.py`` as ``--cfg-options key=value``
strings, which mmengine's :class:`DictAction` parses back. Only values that
survive that round trip unchanged are accepted, so the config a run trains is
exactly the one whose hash identifies it.
"""
import argparse
from typing import Any, Dict, List

from mmengine.config import DictAction


class OverrideError(ValueError):
    """An override that cannot be passed through ``--cfg-options``."""


def flatten(overrides: Dict[str, Any], prefix: str = '') -> Dict[str, Any]:
    """Turn nested dicts into dotted keys (``{'a': {'b': 1}}`` ->
    ``{'a.b': 1}``), which merges the same way in ``merge_from_dict``.

    Args:
        overrides (dict): Dotted keys and/or nested dicts.
        prefix (str): Key prefix for the recursion.

    Returns:
        dict: Dotted key -> leaf value.
    """
    flat = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise OverrideError(f'override keys must be non-empty strings, '
                                f'got {key!r}')
        full = f'{prefix}{key}'
        if isinstance(value, dict):
            if not value:
                raise OverrideError(f'override {full!r}: an empty dict '
                                    'cannot be passed through --cfg-options')
            flat.update(flatten(value, full + '.'))
        else:
            flat[full] = value
    return flat


def _render(value: Any, key: str) -> str:
    if value is None:
        return 'None'
    if isinstance(value, bool):
        return 'True' if value else 'False'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        inner = ','.join(_render(v, key) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    raise OverrideError(
        f'override {key!r}: a {type(value).__name__} value cannot be passed '
        'through --cfg-options (use dotted keys for dicts, e.g. '
        "'param_scheduler.0.end')")


def parse_cli(items: List[str]) -> Dict[str, Any]:
    """Parse ``key=value`` strings exactly as ``tools/train.py`` does.

    Args:
        items (list[str]): ``--cfg-options`` arguments.

    Returns:
        dict: Dotted key -> parsed value.
    """
    if not items:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return dict(parser.parse_args(['--cfg-options', *items]).cfg_options)


def to_cli(overrides: Dict[str, Any]) -> List[str]:
    """Render overrides as ``--cfg-options`` strings, checking that each
    arrives in ``tools/train.py`` unchanged.

    Args:
        overrides (dict): Dotted keys (or nested dicts) -> values.

    Returns:
        list[str]: ``key=value`` strings, in the given key order.

    Raises:
        OverrideError: If a value would be parsed into something else (e.g.
            the string ``'4'``, a string with spaces or commas, a dict inside
            a list).
    """
    flat = flatten(overrides)
    items = [f'{k}={_render(v, k)}' for k, v in flat.items()]
    parsed = parse_cli(items)
    for key, value in flat.items():
        if not _same(parsed.get(key), value):
            raise OverrideError(
                f'override {key}={value!r} cannot be passed through '
                f'--cfg-options: it would arrive as {parsed.get(key)!r}')
    return items


def _same(a: Any, b: Any) -> bool:
    """Equality that also tells lists, tuples, ints, floats and bools
    apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b
