"""Atomic on-disk cache of a procedurally generated data set.

A built-in task is generated on first use into
``$CLST_MMSEG_DATA_DIR/<name>`` (default ``~/.cache/clst_mmseg/<name>``)
and reused while its marker file matches the generator's description
(version, seed, counts, size). Generation goes into a temporary folder
beside the target that is renamed into place when complete, so a crash never
leaves a half-written cache and several processes generating at once end
with one valid copy.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Dict

MARKER = 'GENERATED_COMPLETE.json'


def cache_parent() -> str:
    """``$CLST_MMSEG_DATA_DIR`` if set, else ``~/.cache/clst_mmseg``."""
    return os.environ.get('CLST_MMSEG_DATA_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'clst_mmseg')


def is_complete(root: str, meta: Dict, marker: str = MARKER) -> bool:
    """Whether ``root`` holds a finished data set described by ``meta``
    (in its ``marker`` file)."""
    try:
        with open(osp.join(root, marker)) as f:
            return json.load(f) == meta
    except (OSError, ValueError):
        return False


def ensure_generated(root: str,
                     meta: Dict,
                     generate: Callable[[str], None],
                     what: str,
                     marker: str = MARKER) -> str:
    """Return ``root``, generating the data set into it first if needed.

    Args:
        root (str): Folder of the data set.
        meta (dict): JSON-serialisable description of what the generator
            writes (version, seed, counts ...); a cache whose marker differs
            is replaced.
        generate (callable): ``generate(folder)`` writes the data set.
        what (str): Name of the data set in error messages.
        marker (str): File name of the completion marker (the mini task
            keeps its historical ``MINI_COMPLETE.json``, so that existing
            caches stay valid).

    Returns:
        str: The absolute ``root``.

    Raises:
        FileExistsError: ``root`` is a non-empty folder that this module did
            not write (no marker); it is left untouched.
    """
    root = osp.abspath(osp.expanduser(root))
    if is_complete(root, meta, marker):
        return root
    foreign = (f'{what}: {root} exists and is not a generated {what} data '
               f'set (no {marker}); remove it or pick another root')
    if (osp.isdir(root) and os.listdir(root)
            and not osp.isfile(osp.join(root, marker))):
        raise FileExistsError(foreign)
    parent = osp.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}.tmp-', dir=parent)
    try:
        generate(tmp)
        with open(osp.join(tmp, marker), 'w') as f:
            json.dump(meta, f)
        for _ in range(3):
            try:
                os.rename(tmp, root)
                return root
            except OSError:
                if is_complete(root, meta, marker):  # another process won
                    return root
                if not osp.isfile(osp.join(root, marker)):
                    raise FileExistsError(foreign)
                # An older or different version: move it aside, retry.
                stale = tempfile.mkdtemp(
                    prefix=f'.{osp.basename(root)}.stale-', dir=parent)
                try:
                    os.rename(root, osp.join(stale, 'old'))
                except OSError:
                    pass
                shutil.rmtree(stale, ignore_errors=True)
        raise OSError(f'{what}: could not move generated data to {root}')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_class_stats(data_root: str, label_suffix: str,
                       num_classes: int, label_dir: str = 'labels') -> str:
    """Write the per-image class statistics of a generated split
    (:data:`~.class_stats.CLASS_STATS_FILE`, read by rare class sampling)
    into its folder unless they are there.

    A cache generated before the statistics existed gets them on first use;
    the file is written atomically, so processes racing here write the same
    file.

    Args:
        data_root (str): The split's folder (e.g. ``<cache>/source``).
        label_suffix (str): Suffix of its label files.
        num_classes (int): Classes of the task.
        label_dir (str): Folder of the label files inside ``data_root``.

    Returns:
        str: The statistics file.
    """
    from .class_stats import (CLASS_STATS_FILE, compute_class_stats,
                              write_class_stats)
    path = osp.join(data_root, CLASS_STATS_FILE)
    if osp.isfile(path):
        return path
    folder = osp.join(data_root, label_dir)
    labels = [osp.join(folder, f) for f in sorted(os.listdir(folder))
              if f.endswith(label_suffix)]
    stats = compute_class_stats(data_root, labels, num_classes)
    return write_class_stats(data_root, stats, num_classes)
