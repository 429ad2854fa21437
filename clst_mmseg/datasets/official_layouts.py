"""The on-disk layouts of the official GTA5, SYNTHIA-RAND-CITYSCAPES and
Cityscapes downloads, and writers of random-content datasets in them.

The paths are those the converters (``tools/convert_datasets/``) and the
dataset classes read: images and official label files, before conversion.
The writers fill them with random images and random label ids at each
dataset's image size, so the whole paper-scale pipeline (conversion,
loading, training, evaluation at full label resolution) can run without the
data (``tools/smoke_paper_scale.py``).
"""
import os
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

#: Image sizes (w, h) of the official downloads.
GTA5_SIZE = (1914, 1052)
SYNTHIA_SIZE = (1280, 760)
CITYSCAPES_SIZE = (2048, 1024)


def _num_ids() -> Tuple[int, int]:
    """How many label ids the official label files use: Cityscapes label
    ids (GTA5 uses them too; cityscapesscripts' table) and SYNTHIA class ids
    (``synthia_label_map.csv``), ignored ones included."""
    from cityscapesscripts.helpers.labels import labels

    from .synthia_labels import load_synthia_label_map
    return (max(lb.id for lb in labels) + 1,
            max(load_synthia_label_map()) + 1)


def gta_paths(root: str, index: int) -> Tuple[str, str]:
    """``(image, label)`` of GTA5 image ``index``: ``images/00001.png``,
    ``labels/00001.png`` (label ids, 8 bit)."""
    name = f'{index:05d}.png'
    return osp.join(root, 'images', name), osp.join(root, 'labels', name)


def synthia_paths(root: str, index: int) -> Tuple[str, str]:
    """``(image, label)`` of SYNTHIA image ``index``: ``RGB/0000001.png``,
    ``GT/LABELS/0000001.png`` (16 bit, class id in the R channel)."""
    name = f'{index:07d}.png'
    return (osp.join(root, 'RGB', name),
            osp.join(root, 'GT', 'LABELS', name))


def cityscapes_paths(root: str, split: str, city: str,
                     stem: str) -> Tuple[str, str]:
    """``(image, label)`` of one Cityscapes frame
    ``<city>_<seq>_<frame>``: ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit
    .png`` and ``gtFine/<split>/<city>/<stem>_gtFine_labelIds.png``."""
    return (osp.join(root, 'leftImg8bit', split, city,
                     f'{stem}_leftImg8bit.png'),
            osp.join(root, 'gtFine', split, city,
                     f'{stem}_gtFine_labelIds.png'))


def _makedirs_for(*paths: str) -> None:
    for path in paths:
        os.makedirs(osp.dirname(path), exist_ok=True)


def _random_image(rng: np.random.Generator,
                  size: Sequence[int]) -> np.ndarray:
    w, h = size
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _random_ids(rng: np.random.Generator, size: Sequence[int], num_ids: int,
                dtype) -> np.ndarray:
    w, h = size
    return rng.integers(0, num_ids, (h, w)).astype(dtype)


def write_gta(root: str, num: int, size: Sequence[int] = GTA5_SIZE,
              seed: int = 0) -> List[str]:
    """Write ``num`` random GTA5 images and label-id files.

    Args:
        root (str): Dataset root.
        num (int): Number of images.
        size (Sequence[int]): (w, h). Defaults to GTA5's.
        seed (int): Random seed.

    Returns:
        list[str]: The image paths.
    """
    rng = np.random.default_rng(seed)
    images = []
    for k in range(num):
        img, label = gta_paths(root, k)
        _makedirs_for(img, label)
        Image.fromarray(_random_image(rng, size)).save(img)
        Image.fromarray(_random_ids(rng, size, _num_ids()[0],
                                    np.uint8)).save(label)
        images.append(img)
    return images


def write_synthia(root: str, num: int, size: Sequence[int] = SYNTHIA_SIZE,
                  seed: int = 0) -> List[str]:
    """Write ``num`` random SYNTHIA images and 16-bit label files (class id
    in R, a random instance id in G, as the official files).

    Args:
        root (str): Dataset root.
        num (int): Number of images.
        size (Sequence[int]): (w, h). Defaults to SYNTHIA's.
        seed (int): Random seed.

    Returns:
        list[str]: The image paths.
    """
    rng = np.random.default_rng(seed)
    images = []
    for k in range(num):
        img, label = synthia_paths(root, k)
        _makedirs_for(img, label)
        Image.fromarray(_random_image(rng, size)).save(img)
        raw = np.zeros((size[1], size[0], 3), np.uint16)  # cv2: B, G, R
        raw[:, :, 2] = _random_ids(rng, size, _num_ids()[1], np.uint16)
        raw[:, :, 1] = _random_ids(rng, size, 1000, np.uint16)
        if not cv2.imwrite(label, raw):
            raise OSError(f'{label}: could not be written')
        images.append(img)
    return images


def write_cityscapes(root: str, num_train: int, num_val: int,
                     size: Sequence[int] = CITYSCAPES_SIZE,
                     seed: int = 0) -> List[str]:
    """Write random Cityscapes frames and ``*_gtFine_labelIds.png`` files:
    ``num_train`` in ``train/aachen``, ``num_val`` in ``val/frankfurt``.

    Args:
        root (str): Dataset root.
        num_train (int): Frames of the train split.
        num_val (int): Frames of the val split.
        size (Sequence[int]): (w, h). Defaults to Cityscapes'.
        seed (int): Random seed.

    Returns:
        list[str]: The image paths.
    """
    rng = np.random.default_rng(seed)
    images = []
    for split, city, num in (('train', 'aachen', num_train),
                             ('val', 'frankfurt', num_val)):
        for k in range(num):
            img, label = cityscapes_paths(root, split, city,
                                          f'{city}_{k:06d}_000019')
            _makedirs_for(img, label)
            Image.fromarray(_random_image(rng, size)).save(img)
            Image.fromarray(_random_ids(rng, size, _num_ids()[0],
                                        np.uint8)).save(label)
            images.append(img)
    return images
