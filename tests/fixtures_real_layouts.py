"""Tiny datasets in the exact on-disk layouts of GTA5, SYNTHIA-RAND-CITYSCAPES
and Cityscapes, with known label content.

Each builder writes into a folder the test gives (``tmp_path``) and returns
:class:`Fixture`: the root and, per official label file, the trainIds the
converter must produce. Expected trainIds come from the hand-written tables
below (the published id lists), not from the code under test.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List

import cv2
import numpy as np
from PIL import Image

from clst_mmseg.datasets.official_layouts import (cityscapes_paths,
                                                  gta_paths, synthia_paths)

W, H = 32, 16  # image width, height

# Cityscapes label id -> trainId (cityscapes README), incl. ignored ids.
CS_ID_TO_TRAIN = {
    0: 255, 1: 255, 4: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255, 11: 2,
    12: 3, 13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7,
    21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255,
    30: 255, 31: 16, 32: 17, 33: 18, 34: 255, 200: 255
}
# SYNTHIA-RAND-CITYSCAPES id -> trainId (SYNTHIA README / ADVENT mapping,
# terrain 16, truck 18, train 20 ignored), incl. ids beyond the table.
SYNTHIA_ID_TO_TRAIN = {
    0: 255, 1: 10, 2: 2, 3: 0, 4: 1, 5: 4, 6: 8, 7: 5, 8: 13, 9: 7, 10: 11,
    11: 18, 12: 17, 13: 255, 14: 255, 15: 6, 16: 255, 17: 12, 18: 255,
    19: 15, 20: 255, 21: 3, 22: 255, 300: 255
}


@dataclass
class Fixture:
    """A fixture dataset.

    Attributes:
        root (str): Dataset root.
        expected (dict): official label path -> (converted path, expected
            uint8 trainIds of shape (H, W)).
        images (list[str]): Image paths, sorted.
    """
    root: str
    expected: Dict[str, tuple] = field(default_factory=dict)
    images: List[str] = field(default_factory=list)


def id_pattern(ids, shift: int = 0) -> np.ndarray:
    """An (H, W) image cycling through ``ids`` so that every id occurs."""
    ids = np.asarray(list(ids))
    idx = (np.arange(H * W) + shift) % len(ids)
    return ids[idx].reshape(H, W)


def _map(ids: np.ndarray, table: Dict[int, int]) -> np.ndarray:
    return np.vectorize(table.__getitem__, otypes=[np.uint8])(ids)


def _rgb(seed: int, w: int = W, h: int = H) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 256, (h, w, 3), dtype=np.uint8)


def make_gta(root: str, n: int = 3, size_mismatch: bool = False) -> Fixture:
    """GTA5: ROOT/images/0000k.png, ROOT/labels/0000k.png (label ids).

    Label 00001 is a palette PNG like some official GTA5 labels; with
    ``size_mismatch`` image 00002 is 2 pixels wider than its label.
    """
    fx = Fixture(root)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'labels'), exist_ok=True)
    ids = sorted(CS_ID_TO_TRAIN)
    for k in range(n):
        name = f'{k:05d}'
        w = W + 2 if size_mismatch and k == 2 else W
        img_path, src = gta_paths(root, k)
        Image.fromarray(_rgb(k, w=w)).save(img_path)
        label = id_pattern(ids, shift=k).astype(np.uint8)
        lab_img = Image.fromarray(label)
        if k == 1:
            lab_img = lab_img.convert('P')  # identity palette for 'L'
            assert np.array_equal(np.array(lab_img), label)
        lab_img.save(src)
        fx.images.append(img_path)
        fx.expected[src] = (osp.join(root, 'labels',
                                     name + '_labelTrainIds.png'),
                            _map(label, CS_ID_TO_TRAIN))
    return fx


def make_synthia(root: str) -> Fixture:
    """SYNTHIA: ROOT/RGB/000000k.png, ROOT/GT/LABELS/000000k.png.

    Labels are 16-bit: 0000000 3-channel and 0000001 4-channel (class id in
    R, instance id in G; the instance channel holds 3 = "road" everywhere so
    that reading the wrong channel shows), 0000002 single-channel.
    """
    fx = Fixture(root)
    os.makedirs(osp.join(root, 'RGB'), exist_ok=True)
    os.makedirs(osp.join(root, 'GT', 'LABELS'), exist_ok=True)
    ids = sorted(SYNTHIA_ID_TO_TRAIN)
    for k, channels in enumerate((3, 4, 1)):
        name = f'{k:07d}'
        img_path, src = synthia_paths(root, k)
        Image.fromarray(_rgb(10 + k)).save(img_path)
        cls_ids = id_pattern(ids, shift=k).astype(np.uint16)
        if channels == 1:
            raw = cls_ids
        else:
            raw = np.zeros((H, W, channels), np.uint16)  # cv2: B, G, R(, A)
            raw[:, :, 2] = cls_ids
            raw[:, :, 1] = 3
            if channels == 4:
                raw[:, :, 3] = 65535
        assert cv2.imwrite(src, raw)
        fx.images.append(img_path)
        fx.expected[src] = (osp.join(root, 'GT', 'LABELS',
                                     name + '_labelTrainIds.png'),
                            _map(cls_ids, SYNTHIA_ID_TO_TRAIN))
    return fx


CITYSCAPES_FILES = (('train', 'aachen', 'aachen_000000_000019'),
                    ('train', 'aachen', 'aachen_000001_000019'),
                    ('val', 'frankfurt', 'frankfurt_000000_000294'))


def make_cityscapes(root: str) -> Fixture:
    """Cityscapes: leftImg8bit/<split>/<city>/<name>_leftImg8bit.png and
    gtFine/<split>/<city>/<name>_gtFine_{labelIds,color,instanceIds}.png
    (only labelIds must be converted)."""
    fx = Fixture(root)
    ids = sorted(i for i in CS_ID_TO_TRAIN if i < 34)
    for k, (split, city, name) in enumerate(CITYSCAPES_FILES):
        img_path, src = cityscapes_paths(root, split, city, name)
        img_dir, gt_dir = osp.dirname(img_path), osp.dirname(src)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(gt_dir, exist_ok=True)
        Image.fromarray(_rgb(20 + k)).save(img_path)
        label = id_pattern(ids, shift=3 * k).astype(np.uint8)
        Image.fromarray(label).save(src)
        Image.fromarray(_rgb(30 + k)).save(
            osp.join(gt_dir, name + '_gtFine_color.png'))
        Image.fromarray(label.astype(np.uint16) * 1000).save(
            osp.join(gt_dir, name + '_gtFine_instanceIds.png'))
        fx.images.append(img_path)
        fx.expected[src] = (osp.join(gt_dir,
                                     name + '_gtFine_labelTrainIds.png'),
                            _map(label, CS_ID_TO_TRAIN))
    return fx


def make_fake_tree(root: str, weights: tuple = ()) -> Dict[str, Fixture]:
    """A machine as the paper configs expect it, in miniature: ROOT/data/
    {gta,synthia,cityscapes} with the tiny fixtures above in the official
    layouts, labels converted, and ROOT/checkpoints/<name> for each name in
    ``weights`` (a small state dict that loads with weights_only=True).
    Run from ROOT, the configs' relative data and weights paths find them.

    Returns:
        dict[str, Fixture]: The three datasets.
    """
    import torch

    from clst_mmseg.datasets.convert import convert_dataset
    fixtures = dict(gta=make_gta(osp.join(root, 'data', 'gta')),
                    synthia=make_synthia(osp.join(root, 'data', 'synthia')),
                    cityscapes=make_cityscapes(
                        osp.join(root, 'data', 'cityscapes')))
    for name, fx in fixtures.items():
        convert_dataset(name, fx.root)
    for name in weights:
        path = osp.join(root, 'checkpoints', name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save({'state_dict': {'conv1.weight': torch.zeros(2, 3)}}, path)
    return fixtures


def scaled_facts(fixtures: Dict[str, Fixture]) -> dict:
    """The official facts scaled down to a :func:`make_fake_tree`, so that
    its datasets count as complete (a test-only way to a complete tree)."""
    import copy

    from clst_mmseg.datasets.completeness import load_official_facts
    facts = copy.deepcopy(load_official_facts())
    n_gta = len(fixtures['gta'].images)
    facts['gta'].update(count=n_gta, first_index=0, image_size=[W, H],
                        parts=[dict(part='01', first=0, last=n_gta - 1)])
    facts['synthia'].update(count=len(fixtures['synthia'].images),
                            first_index=0, image_size=[W, H])
    facts['cityscapes']['image_size'] = [W, H]
    splits = {}
    for split, city, _ in CITYSCAPES_FILES:
        cities = splits.setdefault(split, dict(count=0, cities={}))
        cities['count'] += 1
        cities['cities'][city] = cities['cities'].get(city, 0) + 1
    facts['cityscapes']['splits'] = splits
    return facts
