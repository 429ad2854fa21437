"""Per-image class statistics of a labelled data set: how many pixels of each
class every label file holds, written beside the data as
:data:`CLASS_STATS_FILE` (DAFormer's rare class sampling reads them).

The dataset converters (``tools/convert_datasets``) write the file after
converting the labels, as DAFormer's converters do
(lhoyer/DAFormer ``tools/convert_datasets/gta.py``, ``synthia.py``,
``cityscapes.py``: ``sample_class_stats.json``); the generated CPU tasks
write it into their cache (:func:`clst_mmseg.datasets.generated_cache.
ensure_class_stats`). The format is this project's own (DAFormer's file is a
list of ``{class: count, 'file': path}`` entries with the converter's paths):

.. code-block:: json

    {"format": "clst_mmseg.class_stats", "version": 1,
     "num_classes": 19, "ignore_index": 255,
     "files": {"labels/00001_labelTrainIds.png": {"0": 70211, "2": 1033}}}

Paths are relative to the folder holding the file (the data root); counts
are taken on the label files as stored (full resolution), classes with no
pixel are left out.
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

#: File name of the statistics, in the data root of the data set.
CLASS_STATS_FILE = 'sample_class_stats.json'
FORMAT = 'clst_mmseg.class_stats'
VERSION = 1

#: {relative label path: {class id: pixel count}}
ClassStats = Dict[str, Dict[int, int]]


class ClassStatsError(ValueError):
    """A statistics file that is missing, malformed or does not fit the
    data set."""


def read_label(path: str) -> np.ndarray:
    """A label file as a 2-D integer array (trainIds as stored)."""
    import cv2
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise ClassStatsError(f'{path}: cannot be read as a label image')
    if label.ndim != 2:
        raise ClassStatsError(f'{path}: expected a single-channel label '
                              f'image, got shape {label.shape}')
    return label


def count_classes(label: np.ndarray, num_classes: int,
                  ignore_index: int = 255,
                  where: str = 'label') -> Dict[int, int]:
    """Pixels of each class present in a label map.

    Args:
        label (np.ndarray): Integer label map.
        num_classes (int): Classes are ``0 .. num_classes - 1``.
        ignore_index (int): Label of unlabelled pixels (not counted).
        where (str): Named in the error (e.g. the file).

    Returns:
        dict[int, int]: Class -> pixel count, classes with no pixel left out.

    Raises:
        ClassStatsError: A value that is neither a class nor the ignore
            index (a label file of another label set).
    """
    values = np.asarray(label).ravel().astype(np.int64)
    counts = np.bincount(values[values != ignore_index])
    if len(counts) > num_classes and counts[num_classes:].any():
        bad = int(num_classes + np.flatnonzero(counts[num_classes:])[0])
        raise ClassStatsError(
            f'{where}: holds label {bad}, outside the {num_classes} classes '
            f'and not the ignore index {ignore_index}')
    return {c: int(n) for c, n in enumerate(counts[:num_classes]) if n > 0}


def _count_file(task: Tuple[str, int, int]) -> Dict[int, int]:
    path, num_classes, ignore_index = task
    return count_classes(read_label(path), num_classes, ignore_index, path)


def compute_class_stats(data_root: str,
                        label_paths: Iterable[str],
                        num_classes: int,
                        ignore_index: int = 255,
                        nproc: int = 1) -> ClassStats:
    """Count the classes of label files.

    Args:
        data_root (str): The folder the statistics belong to; the keys are
            the label paths relative to it.
        label_paths (Iterable[str]): Label files (absolute, or relative to
            the working directory), inside ``data_root``.
        num_classes (int): Number of classes.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        nproc (int): Worker processes. Defaults to 1.

    Returns:
        dict: ``{relative path: {class: count}}``.
    """
    paths = sorted(osp.abspath(p) for p in label_paths)
    root = osp.abspath(data_root)
    rel = [osp.relpath(p, root) for p in paths]
    outside = [p for p, r in zip(paths, rel) if r.startswith('..')]
    if outside:
        raise ClassStatsError(f'{outside[0]} is not inside the data root '
                              f'{root}')
    tasks = [(p, num_classes, ignore_index) for p in paths]
    if nproc > 1 and len(tasks) > 1:
        from mmengine.utils import track_parallel_progress
        counts = track_parallel_progress(_count_file, tasks, nproc=nproc,
                                         chunksize=16)
    else:
        counts = [_count_file(t) for t in tasks]
    return dict(zip(rel, counts))


def write_class_stats(data_root: str, stats: ClassStats, num_classes: int,
                      ignore_index: int = 255) -> str:
    """Write :data:`CLASS_STATS_FILE` into ``data_root`` (atomically: a
    temporary file renamed into place).

    Returns:
        str: The path written.
    """
    path = osp.join(data_root, CLASS_STATS_FILE)
    doc = dict(format=FORMAT, version=VERSION, num_classes=int(num_classes),
               ignore_index=int(ignore_index),
               files={f: {str(c): int(n) for c, n in sorted(cnt.items())}
                      for f, cnt in sorted(stats.items())})
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=0)
    os.replace(tmp, path)
    return path


def load_class_stats(data_root: str,
                     num_classes: Optional[int] = None,
                     remedy: str = 'run the dataset converter '
                     '(tools/convert_datasets/<dataset>.py DATA_ROOT)'
                     ) -> ClassStats:
    """Read :data:`CLASS_STATS_FILE` of a data root.

    Args:
        data_root (str): Folder holding the file.
        num_classes (int, optional): Expected number of classes (checked).
        remedy (str): What to do, named in the errors.

    Returns:
        dict: ``{relative path: {class: count}}``.

    Raises:
        ClassStatsError: One line naming the file and what is wrong.
    """
    path = osp.join(data_root, CLASS_STATS_FILE)
    if not osp.isfile(path):
        raise ClassStatsError(f'{path} is missing (rare class sampling reads '
                              f'the per-image class statistics); {remedy}')
    try:
        with open(path) as f:
            doc = json.load(f)
    except ValueError as e:
        raise ClassStatsError(f'{path}: not valid JSON ({e}); {remedy}')
    if isinstance(doc, list):
        raise ClassStatsError(
            f'{path}: a list, as DAFormer\'s own converters write it; this '
            f'project reads its own format; {remedy}')
    if not isinstance(doc, dict) or doc.get('format') != FORMAT:
        raise ClassStatsError(f'{path}: expected format {FORMAT!r}; '
                              f'{remedy}')
    if doc.get('version') != VERSION:
        raise ClassStatsError(f'{path}: version {doc.get("version")!r}, '
                              f'this code reads version {VERSION}; {remedy}')
    if num_classes is not None and doc.get('num_classes') != num_classes:
        raise ClassStatsError(
            f'{path}: counts {doc.get("num_classes")} classes, the data set '
            f'has {num_classes}; {remedy}')
    files = doc.get('files')
    if not isinstance(files, dict) or not files:
        raise ClassStatsError(f'{path}: no files listed; {remedy}')
    return {f: {int(c): int(n) for c, n in cnt.items()}
            for f, cnt in files.items()}


def class_frequencies(stats: ClassStats) -> Dict[int, float]:
    """Share of each class among all counted pixels (classes with no pixel
    left out)."""
    total: Dict[int, int] = {}
    for counts in stats.values():
        for c, n in counts.items():
            total[c] = total.get(c, 0) + n
    pixels = sum(total.values())
    if not pixels:
        raise ClassStatsError('the class statistics count no pixel')
    return {c: n / pixels for c, n in total.items()}


def rcs_class_probs(stats: ClassStats,
                    temperature: float) -> Tuple[List[int], np.ndarray]:
    """DAFormer's rare class sampling distribution:
    ``P(c) = softmax((1 - f_c) / T)`` over the classes present, ``f_c``
    their pixel frequency (lhoyer/DAFormer ``mmseg/datasets/uda_dataset.py``
    ``get_rcs_class_probs``).

    Args:
        stats (dict): Per-file class counts.
        temperature (float): T > 0 (DAFormer: 0.01).

    Returns:
        tuple[list[int], np.ndarray]: The classes in ascending order of
        pixel count (the release's order) and their probabilities
        (float64, summing to 1).
    """
    if not temperature > 0:
        raise ValueError(f'rare class sampling: the temperature must be > 0, '
                         f'got {temperature}')
    freq = class_frequencies(stats)
    classes = sorted(freq, key=lambda c: (freq[c], c))
    logits = (1.0 - np.array([freq[c] for c in classes])) / temperature
    probs = np.exp(logits - logits.max())
    return classes, probs / probs.sum()


def files_with_class(stats: ClassStats, min_pixels: int) -> Dict[int,
                                                                  List[str]]:
    """Files in which each class covers more than ``min_pixels`` pixels
    (strictly more, as the release: ``pixels > self.rcs_min_pixels``)."""
    out: Dict[int, List[str]] = {}
    for f in sorted(stats):
        for c, n in stats[f].items():
            if n > min_pixels:
                out.setdefault(c, []).append(f)
    return out
