"""Stamps each checkpoint with what wrote it, and refuses to load (resume or
``load_from``) a checkpoint written by another model or training set-up."""
import json
import logging
from typing import Any, Dict, List, Optional

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import find_latest_checkpoint
from mmseg.registry import HOOKS

#: Key of the identity in a checkpoint's ``meta``.
META_KEY = 'clst_mmseg_identity'
#: Config keys left out of the identity: where files lie, not what trains.
_LOCATION_KEYS = ('init_cfg', 'pretrained', 'data_root', 'backend_args')
#: How many differing keys the error line names.
_SHOWN = 3


class CheckpointMismatch(ValueError):
    """A checkpoint that another model or config wrote."""


def _plain(cfg: Any) -> Any:
    """Config data as JSON-safe plain values, location keys removed."""
    if isinstance(cfg, dict):
        return {str(k): _plain(v) for k, v in cfg.items()
                if k not in _LOCATION_KEYS}
    if isinstance(cfg, (list, tuple)):
        return [_plain(v) for v in cfg]
    if cfg is None or isinstance(cfg, (bool, int, float, str)):
        return cfg
    return repr(cfg)


def checkpoint_identity(cfg: Config) -> Dict[str, str]:
    """What a checkpoint of this config is: the model type, the model
    config, the training data and the optimizer (each as canonical JSON).

    Weight locations (``init_cfg``, ``pretrained``, ``data_root``) are left
    out, so moving data or pretrained files does not change it. A TTA model
    is identified by the model it wraps.

    Args:
        cfg (Config): The run's config.

    Returns:
        dict: ``model_type``, ``model``, ``data``, ``optim`` (str each).
    """
    model = cfg.get('model') or {}
    if str(model.get('type', '')).endswith('TTAModel') and 'module' in model:
        model = model['module']
    loader = cfg.get('train_dataloader') or {}
    data = loader.get('dataset') if isinstance(loader, dict) else None

    def text(obj):
        return json.dumps(_plain(obj), sort_keys=True)

    return dict(model_type=str(model.get('type')), model=text(model),
                data=text(data), optim=text(cfg.get('optim_wrapper')))


def _flat(obj: Any, prefix: str) -> Dict[str, Any]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f'{prefix}.{k}'))
        return out or {prefix: {}}
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flat(v, f'{prefix}.{i}'))
        return out or {prefix: []}
    return {prefix: obj}


def identity_differences(found: Dict[str, str], expected: Dict[str, str],
                         parts=('model', 'data', 'optim')) -> List[str]:
    """``'<key>: <in checkpoint> -> <now>'`` for every config key in which
    two identities differ (model type first).

    Args:
        found (dict): Identity stored in the checkpoint.
        expected (dict): Identity of the current config.
        parts (tuple): Which parts to compare.

    Returns:
        list[str]: The differences; empty if they match.
    """
    out = []
    if found.get('model_type') != expected.get('model_type'):
        out.append(f'model.type: {found.get("model_type")} -> '
                   f'{expected.get("model_type")}')
    names = dict(model='model', data='train_dataloader.dataset',
                 optim='optim_wrapper')
    for part in parts:
        if found.get(part) == expected.get(part):
            continue
        a = _flat(json.loads(found.get(part) or 'null'), names[part])
        b = _flat(json.loads(expected.get(part) or 'null'), names[part])
        for key in sorted(set(a) | set(b)):
            if key == 'model.type':
                continue
            if a.get(key, '<unset>') != b.get(key, '<unset>'):
                out.append(f'{key}: {a.get(key, "<unset>")} -> '
                           f'{b.get(key, "<unset>")}')
    return out


def identity_from_meta(meta: Dict) -> Optional[Dict[str, str]]:
    """The identity a checkpoint carries: ours, or else rebuilt from the
    config text mmengine stores in every checkpoint (``meta['cfg']``); None
    if neither is there (a bare state dict, a converted model)."""
    if isinstance(meta.get(META_KEY), dict):
        return meta[META_KEY]
    text = meta.get('cfg')
    if not isinstance(text, str):
        return None
    try:
        return checkpoint_identity(Config.fromstring(text, '.py'))
    except Exception:  # config text of another code base
        return None


@HOOKS.register_module()
class CheckpointIdentityHook(Hook):
    """Writes the run's :func:`checkpoint_identity` into every checkpoint
    and checks it when a checkpoint is loaded (``--resume``, ``load_from``,
    ``tools/test.py``).

    A checkpoint whose model type, model config or training data differ
    from the current config (for ``--resume`` also the optimizer) stops the
    run with a :class:`CheckpointMismatch` naming what differs, before any
    weight is loaded; with ``allow_mismatch`` it is loaded with a warning
    instead (mmengine then loads the matching weights and lists the rest).
    A checkpoint without any config (a bare state dict) is loaded with a
    warning: nothing can be compared.

    Args:
        allow_mismatch (bool): Load mismatching checkpoints anyway (config
            key ``allow_checkpoint_mismatch``). Defaults to False.
    """
    priority = 'VERY_HIGH'

    def __init__(self, allow_mismatch: bool = False) -> None:
        self.allow_mismatch = allow_mismatch

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[META_KEY] = checkpoint_identity(
            runner.cfg)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        resume = bool(getattr(runner, '_resume', False))
        what = '--resume' if resume else 'load_from'
        # auto-resume (no load_from) loads the work dir's latest checkpoint
        source = runner._load_from or find_latest_checkpoint(runner.work_dir)
        found = identity_from_meta(checkpoint.get('meta') or {})
        if found is None:
            print_log(f'{what}: {source} carries no config; its weights are '
                      'loaded without checking which model wrote them',
                      logger='current', level=logging.WARNING)
            return
        parts = ('model', 'data', 'optim') if resume else ('model', 'data')
        diffs = identity_differences(found, checkpoint_identity(runner.cfg),
                                     parts)
        if not diffs:
            return
        more = f' (+{len(diffs) - _SHOWN} more)' if len(diffs) > _SHOWN \
            else ''
        msg = (f'{what}: {source} was written by another model or config '
               f'(checkpoint -> now: {"; ".join(diffs[:_SHOWN])}{more})')
        if self.allow_mismatch:
            print_log(msg + '; loading it anyway (allow_checkpoint_mismatch'
                      '=True)', logger='current', level=logging.WARNING)
            return
        raise CheckpointMismatch(
            msg + '; to load it anyway set allow_checkpoint_mismatch=True '
            '(--cfg-options allow_checkpoint_mismatch=True)')
