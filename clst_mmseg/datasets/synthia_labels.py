"""SYNTHIA-RAND-CITYSCAPES class ids -> Cityscapes trainIds.

The mapping is data, kept in ``synthia_label_map.csv`` next to this file
(its header comment names the source).
"""
import csv
import os.path as osp
from functools import lru_cache
from typing import Dict, Optional

import numpy as np

from .cityscapes_labels import CITYSCAPES_CLASSES, IGNORE_INDEX

SYNTHIA_LABEL_MAP_CSV = osp.join(
    osp.dirname(osp.abspath(__file__)), 'synthia_label_map.csv')

# SYNTHIA label PNGs are 16-bit, so ids can reach 65535.
_LUT_SIZE = 1 << 16


def load_synthia_label_map(path: Optional[str] = None) -> Dict[int, int]:
    """Read the SYNTHIA id -> Cityscapes trainId table.

    Args:
        path (str, optional): CSV with columns ``synthia_id, synthia_name,
            cityscapes_train_id``; lines starting with ``#`` are comments.
            Defaults to the table shipped with the package.

    Returns:
        dict[int, int]: ``{synthia_id: train_id}`` (255 = ignore).
    """
    path = path or SYNTHIA_LABEL_MAP_CSV
    with open(path, newline='') as f:
        rows = list(
            csv.DictReader(
                line for line in f
                if line.strip() and not line.lstrip().startswith('#')))
    mapping: Dict[int, int] = {}
    valid_train_ids = set(range(len(CITYSCAPES_CLASSES))) | {IGNORE_INDEX}
    for lineno, row in enumerate(rows, start=2):
        try:
            sid = int(row['synthia_id'])
            tid = int(row['cityscapes_train_id'])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f'{path}: row {lineno} {dict(row)} - expected integer columns '
                '`synthia_id` and `cityscapes_train_id`') from None
        if sid in mapping or not 0 <= sid < _LUT_SIZE:
            raise ValueError(f'{path}: synthia_id {sid} is duplicated or '
                             f'outside [0, {_LUT_SIZE})')
        if tid not in valid_train_ids:
            raise ValueError(f'{path}: synthia_id {sid} maps to {tid}, '
                             'expected a trainId in 0..18 or 255')
        mapping[sid] = tid
    if not mapping:
        raise ValueError(f'{path}: no rows found')
    return mapping


@lru_cache(maxsize=None)
def synthia_id_to_train_id_lut() -> np.ndarray:
    """Look-up table built from the shipped SYNTHIA table.

    Returns:
        np.ndarray: uint8 array of shape (65536,); ids absent from the table
        map to 255. Treat as read-only (it is cached).
    """
    lut = np.full(_LUT_SIZE, IGNORE_INDEX, dtype=np.uint8)
    for sid, tid in load_synthia_label_map().items():
        lut[sid] = tid
    lut.flags.writeable = False
    return lut
