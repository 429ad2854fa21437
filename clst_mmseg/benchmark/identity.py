"""What identifies a run: the resolved config, its hash, the run id."""
import hashlib
import json
import math
from typing import Any, Dict, Optional

from mmengine.config import Config

from clst_mmseg.apis.config_checks import check_values
from clst_mmseg.apis.schedule_length import merge_overrides

#: Keys that say where or how a run is launched, logged or loaded, not
#: what it trains (switching TensorBoard on keeps the finished runs).
_NOT_HASHED = ('work_dir', 'launcher', 'visualizer',
               'allow_checkpoint_mismatch')


def resolve_config(path: str,
                   overrides: Optional[Dict[str, Any]] = None) -> Dict:
    """Load a config and apply overrides as ``tools/train.py`` does
    (``Config.fromfile`` + checked ``merge_from_dict``: a key the config
    lacks must be written ``+key``; a changed ``max_iters`` moves the
    schedule ends with it), with the function the tool uses
    (:func:`~clst_mmseg.apis.schedule_length.merge_overrides`), without
    importing the modules it names, and check its values (``max_iters`` > 0
    ...).

    Args:
        path (str): Config file.
        overrides (dict, optional): Dotted key -> value.

    Returns:
        dict: The resolved config as plain Python data.

    Raises:
        ValueError: An override of a key the config lacks, or a value out
            of range (one line naming the key).
    """
    cfg = Config.fromfile(path, import_custom_modules=False)
    merge_overrides(cfg, overrides)
    resolved = cfg.to_dict()
    check_values(resolved)
    return resolved


def _canonical(value: Any) -> Any:
    """JSON-able form that keeps tuples apart from lists and non-finite
    floats apart from null (a record, strict JSON, keeps this form, so its
    config hashes as it did when it ran)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {'__float__': repr(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {'__tuple__': [_canonical(v) for v in value]}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {'__repr__': repr(value)}


def from_canonical(value: Any) -> Any:
    """A config in its canonical form (what records keep, see
    :func:`hashed_config`) as plain data again: tuples as lists, non-finite
    floats as floats."""
    if isinstance(value, dict):
        if set(value) == {'__tuple__'}:
            return [from_canonical(v) for v in value['__tuple__']]
        if set(value) == {'__float__'}:
            return float(value['__float__'])
        return {k: from_canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_canonical(v) for v in value]
    return value


def hashed_config(resolved: Dict) -> Dict:
    """The part of a resolved config that identifies what is trained: all
    of it but :data:`_NOT_HASHED` and the seed (seeds of one method
    share a configuration; the seed is part of the run id instead).

    Args:
        resolved (dict): Output of :func:`resolve_config`.

    Returns:
        dict: Canonical, JSON-able config.
    """
    cfg = {k: v for k, v in resolved.items() if k not in _NOT_HASHED}
    if isinstance(cfg.get('randomness'), dict):
        cfg['randomness'] = {
            k: v for k, v in cfg['randomness'].items() if k != 'seed'
        }
    return _canonical(cfg)


def config_hash(resolved: Dict) -> str:
    """SHA-256 of the canonical JSON text of :func:`hashed_config`.

    JSON with sorted keys rather than ``Config.pretty_text``: the hash must
    not change when yapf (which formats ``pretty_text``) is upgraded or when
    a config merely reorders keys; otherwise every finished run would be
    trained again.

    Args:
        resolved (dict): Output of :func:`resolve_config`.

    Returns:
        str: 64 hex digits.
    """
    text = json.dumps(hashed_config(resolved), sort_keys=True,
                      separators=(',', ':'), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def make_run_id(task: str, method: str, cfg_hash: str, seed: int) -> str:
    """Stable, file-name-safe run id, e.g. ``mini-oracle-1a2b3c4d5e-s0``.

    Args:
        task (str): Task key.
        method (str): Method key.
        cfg_hash (str): :func:`config_hash` of the run's config.
        seed (int): Random seed.

    Returns:
        str: The run id.
    """
    return f'{task}-{method}-{cfg_hash[:10]}-s{seed}'
