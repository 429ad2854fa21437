"""Which pretrained weights a config starts from, and which it actually
used: read from the (resolved) config and the training log, so that the
pre-training check and the run record agree on what "pretrained" means.

Pure functions over plain data (no torch, no registries). What the training
side shares (:func:`pretrained_entries` of plain configs, :func:`is_local`)
lives below the benchmark layer, in :mod:`clst_mmseg.apis.pretrained_config`.
"""
from typing import Any, Dict, List, Tuple

from clst_mmseg.apis import pretrained_config
from clst_mmseg.apis.pretrained_config import PRETRAINED_TYPES  # noqa: F401
from clst_mmseg.apis.pretrained_config import is_local  # noqa: F401

# the records' canonical config form back to plain data (also imported by
# other modules under this name)
from .identity import from_canonical as _plain

#: What :class:`~clst_mmseg.models.PretrainedIfAvailable` logs when it
#: cannot obtain its checkpoint (the module then keeps its random init).
UNAVAILABLE = 'PretrainedIfAvailable: checkpoint {} is not available'


def pretrained_entries(model: Any, prefix: str = 'model'
                       ) -> List[Tuple[str, Dict]]:
    """:func:`clst_mmseg.apis.pretrained_config.pretrained_entries` of a
    model config in plain or in the records' canonical form."""
    return pretrained_config.pretrained_entries(_plain(model), prefix)


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
