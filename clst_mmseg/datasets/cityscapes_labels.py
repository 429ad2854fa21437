"""Cityscapes' 19 training classes, derived from cityscapesscripts' label
table (``cityscapesscripts.helpers.labels``) so that names, colours and ids
are never retyped.

Every real task of the project labels pixels with these trainIds (0..18);
255 means "ignore".
"""
import csv
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from cityscapesscripts.helpers.labels import labels as _CS_LABELS

IGNORE_INDEX = 255

_TRAIN_LABELS = sorted(
    (lb for lb in _CS_LABELS if 0 <= lb.trainId < IGNORE_INDEX),
    key=lambda lb: lb.trainId)

#: The 19 class names in trainId order.
CITYSCAPES_CLASSES: Tuple[str, ...] = tuple(lb.name for lb in _TRAIN_LABELS)
#: One RGB colour per class, in trainId order.
CITYSCAPES_PALETTE: List[List[int]] = [list(lb.color) for lb in _TRAIN_LABELS]

#: Where the named evaluation class subsets are kept (data, read by the
#: benchmark layer too).
CLASS_SUBSETS_CSV = osp.join(osp.dirname(osp.abspath(__file__)),
                             'class_subsets.csv')


def _load_class_subsets(
        path: str = CLASS_SUBSETS_CSV) -> Dict[str, List[str]]:
    """Read the subsets and check every name against the 19 classes."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(ln for ln in f if not ln.startswith('#')))
    subsets: Dict[str, List[str]] = {}
    for row in rows:
        if row['class'] not in CITYSCAPES_CLASSES:
            raise ValueError(f'{path}: {row["subset"]}: unknown Cityscapes '
                             f'class {row["class"]!r}')
        subsets.setdefault(row['subset'], []).append(row['class'])
    return subsets


#: Evaluation class subsets: GTA5->Cityscapes uses all 19 classes;
#: SYNTHIA->Cityscapes reports 16 and 13 classes.
CLASS_SUBSETS: Dict[str, List[str]] = _load_class_subsets()


def label_id_to_train_id_lut() -> np.ndarray:
    """Look-up table from Cityscapes label ids to trainIds.

    GTA5 labels and Cityscapes' ``*_gtFine_labelIds.png`` both store these
    label ids.

    Returns:
        np.ndarray: uint8 array of shape (256,); ``lut[label_id]`` is the
        trainId, 255 for ignored and unknown ids.
    """
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for lb in _CS_LABELS:
        if 0 <= lb.id < 256 and 0 <= lb.trainId < IGNORE_INDEX:
            lut[lb.id] = lb.trainId
    return lut
