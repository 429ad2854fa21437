"""Which pretrained weights a config starts from, and which it actually
used: read from the (resolved) config and the training log, so that the
pre-training check and the run record agree on what "pretrained" means.

Pure functions over plain data (no torch, no registries).
"""
import re
from typing import Any, Dict, List, Tuple

# the records' canonical config form back to plain data (also imported by
# other modules under this name)
from .identity import from_canonical as _plain

#: ``init_cfg`` types that load a checkpoint.
PRETRAINED_TYPES = ('Pretrained', 'PretrainedIfAvailable')
#: What :class:`~clst_mmseg.models.PretrainedIfAvailable` logs when it
#: cannot obtain its checkpoint (the module then keeps its random init).
UNAVAILABLE = 'PretrainedIfAvailable: checkpoint {} is not available'


def pretrained_entries(model: Any, prefix: str = 'model'
                       ) -> List[Tuple[str, Dict]]:
    """Every ``init_cfg`` entry of a model config that loads a checkpoint.

    Args:
        model (dict): The model config (a config's ``model``; records'
            canonical form accepted).
        prefix (str): Key path of ``model``. Defaults to 'model'.

    Returns:
        list[tuple[str, dict]]: ``(key path, entry)``, e.g.
        ``('model.segmentor.backbone.init_cfg.2', {...})``.
    """
    out: List[Tuple[str, Dict]] = []
    model = _plain(model)
    if isinstance(model, list):
        for i, item in enumerate(model):
            out += pretrained_entries(item, f'{prefix}.{i}')
        return out
    if not isinstance(model, dict):
        return out
    for key, value in model.items():
        path = f'{prefix}.{key}'
        if key == 'init_cfg':
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if isinstance(item, dict) and item.get(
                        'type') in PRETRAINED_TYPES and item.get(
                            'checkpoint'):
                    out.append((path + (f'.{i}' if isinstance(value, list)
                                        else ''), item))
        else:
            out += pretrained_entries(value, path)
    return out


def is_local(checkpoint: str) -> bool:
    """A file path rather than ``scheme://...`` (URL, torchvision://)."""
    return re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', checkpoint) is None


def init_used(resolved: Dict, log_text: str) -> Dict:
    """What a finished training started from.

    Args:
        resolved (dict): The run's resolved config (plain or canonical).
        log_text (str): Its training console log.

    Returns:
        dict: ``summary`` (one line, e.g. the checkpoint, or ``random
        (...)``), ``pretrained`` (bool: every pretrained entry loaded) and
        ``entries`` (key, checkpoint, loaded) per pretrained entry.
    """
    entries = []
    for key, entry in pretrained_entries(resolved.get('model') or {}):
        ckpt = entry['checkpoint']
        loaded = UNAVAILABLE.format(ckpt) not in log_text
        entries.append(dict(key=key, checkpoint=ckpt, loaded=loaded))
    if not entries:
        summary = 'random (no pretrained weights in the config)'
    elif all(e['loaded'] for e in entries):
        summary = ', '.join(e['checkpoint'] for e in entries)
    else:
        summary = 'random ({} unavailable, allow_random_init)'.format(
            ', '.join(e['checkpoint'] for e in entries if not e['loaded']))
    return dict(summary=summary,
                pretrained=bool(entries) and all(e['loaded']
                                                 for e in entries),
                entries=entries)
