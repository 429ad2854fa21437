"""Which pretrained weights a model config names: read by the pre-training
check (:mod:`.pretrained_check`) and by the benchmark (the pre-flight, the
protocol summary, the record's ``init`` and ``inputs``), so that both agree
on what "pretrained" means.

Pure functions over plain config data (no torch, no registries).
"""
import re
from typing import Any, Dict, List, Tuple

#: ``init_cfg`` types that load a checkpoint.
PRETRAINED_TYPES = ('Pretrained', 'PretrainedIfAvailable')


def pretrained_entries(model: Any, prefix: str = 'model'
                       ) -> List[Tuple[str, Dict]]:
    """Every ``init_cfg`` entry of a model config that loads a checkpoint.

    Args:
        model (dict): The model config (a config's ``model``, plain data).
        prefix (str): Key path of ``model``. Defaults to 'model'.

    Returns:
        list[tuple[str, dict]]: ``(key path, entry)``, e.g.
        ``('model.segmentor.backbone.init_cfg.2', {...})``.
    """
    out: List[Tuple[str, Dict]] = []
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
