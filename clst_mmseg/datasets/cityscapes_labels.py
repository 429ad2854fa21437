"""Cityscapes' 19 training classes, derived from cityscapesscripts' label
table (``cityscapesscripts.helpers.labels``) so that names, colours and ids
are never retyped.

Every real task of the project labels pixels with these trainIds (0..18);
255 means "ignore".
"""
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

_NOT_IN_SYNTHIA16 = ('terrain', 'truck', 'train')
_NOT_IN_SYNTHIA13 = _NOT_IN_SYNTHIA16 + ('wall', 'fence', 'pole')

#: Evaluation class subsets: GTA5->Cityscapes uses all 19 classes;
#: SYNTHIA->Cityscapes reports 16 and 13 classes.
CLASS_SUBSETS: Dict[str, List[str]] = {
    'mIoU19': list(CITYSCAPES_CLASSES),
    'mIoU16': [c for c in CITYSCAPES_CLASSES if c not in _NOT_IN_SYNTHIA16],
    'mIoU13': [c for c in CITYSCAPES_CLASSES if c not in _NOT_IN_SYNTHIA13],
}


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
