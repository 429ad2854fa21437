"""The data and weights files a run reads, as its record keeps them
(``inputs``): paths and sizes, not hashes.

A run's identity is its config (and its code): the data and weights files
it names are identified by their paths, which the config holds. Their sizes
are recorded beside them, so that a record says what was on disk when the
run started (a truncated download, a dataset converted again) without
hashing tens of gigabytes per run. Generated data (the CPU tasks) has no
``data_root`` in the config: it is made by code the fingerprint covers.
"""
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Tuple

from .identity import from_canonical
from .initialisation import is_local, pretrained_entries

#: The dataloaders whose datasets a run reads.
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: A data folder is counted up to this many files (then ``truncated``).
MAX_FILES = 2_000_000


def _data_roots(node: Any, path: str) -> Iterator[Tuple[str, str]]:
    """``(key path, folder)`` of every ``data_root`` string in a config
    node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'data_root' and isinstance(value, str) and value:
                yield f'{path}.{key}', value
            else:
                yield from _data_roots(value, f'{path}.{key}')
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _data_roots(item, f'{path}.{i}')


def folder_size(folder: str) -> Dict:
    """Files and bytes under a folder (symbolic links followed, each real
    folder counted once).

    Returns:
        dict: ``files``, ``bytes`` (None if the folder does not exist) and
        ``truncated`` (counting stopped at :data:`MAX_FILES`).
    """
    if not osp.isdir(folder):
        return dict(files=None, bytes=None, truncated=False)
    files = size = 0
    seen = set()
    for top, dirs, names in os.walk(folder, followlinks=True):
        real = osp.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        for name in names:
            try:
                size += os.stat(osp.join(top, name)).st_size
            except OSError:
                continue
            files += 1
            if files >= MAX_FILES:
                return dict(files=files, bytes=size, truncated=True)
    return dict(files=files, bytes=size, truncated=False)


def _weights(key: str, checkpoint: str) -> Dict:
    local = is_local(checkpoint)
    size = osp.getsize(checkpoint) if local and osp.isfile(checkpoint) \
        else None
    return dict(key=key, path=checkpoint, bytes=size, local=local)


def input_files(resolved: Dict) -> Dict:
    """The data folders and weights files a run's config names, with their
    sizes now (relative paths as the training resolves them: from the
    current folder).

    Args:
        resolved (dict): The run's resolved config (plain or canonical).

    Returns:
        dict: ``data`` (one entry per folder: ``path``, the config ``keys``
        naming it, ``files``, ``bytes``, ``truncated``; None sizes for a
        folder that does not exist) and ``weights`` (one entry per
        pretrained ``init_cfg`` checkpoint and ``load_from``: ``key``,
        ``path``, ``bytes``, None for a missing file or a URL, ``local``).
    """
    cfg = from_canonical(resolved)
    folders: Dict[str, List[str]] = {}
    for name in DATALOADERS:
        for key, root in _data_roots(cfg.get(name), name):
            folders.setdefault(root, []).append(key)
    data = [dict(path=root, keys=keys, **folder_size(root))
            for root, keys in folders.items()]
    weights = [_weights(key, entry['checkpoint'])
               for key, entry in pretrained_entries(cfg.get('model') or {})]
    if isinstance(cfg.get('load_from'), str) and cfg['load_from']:
        weights.append(_weights('load_from', cfg['load_from']))
    return dict(data=data, weights=weights)
