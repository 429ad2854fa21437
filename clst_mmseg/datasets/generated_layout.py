"""Writing a procedurally generated two-domain task to disk, shared by the
built-in tasks' generators (mini, adverse, aerial).

The layout is the one their dataset classes read: the labelled source and
its held-out slice in the GTA5 layout (``source/`` and ``source_val/``,
``images/<i>.png`` and ``labels/<i>_labelTrainIds.png``), the target in the
Cityscapes layout (``target/{leftImg8bit,gtFine}/{train,val}/<city>/``),
optionally with a per-image description of each target split
(``target/conditions_{train,val}.csv``).
"""
import argparse
import csv
import os
import os.path as osp
from typing import Callable, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

#: The splits a generator renders, in the order they are written.
SOURCE_DOMAINS = ('source', 'source_val')
TARGET_SPLITS = ('train', 'val')


def write_png(path: str, array: np.ndarray, what: str) -> None:
    """Write an RGB (H, W, 3) or label (H, W) array as a PNG.

    Args:
        path (str): Output file.
        array (np.ndarray): uint8 RGB image or label map.
        what (str): Name of the data set in the error message.

    Raises:
        OSError: OpenCV could not write the file.
    """
    if array.ndim == 3:
        array = array[:, :, ::-1]
    if not cv2.imwrite(path, np.ascontiguousarray(array)):
        raise OSError(f'{what}: could not write {path}')


def check_size_and_counts(what: str, size: Sequence[int],
                          counts: Dict[str, int]) -> Tuple[int, int]:
    """Validate a generator's image size and split sizes.

    Args:
        what (str): Name of the data set in error messages.
        size (Sequence[int]): Image size (H, W), each at least 32.
        counts (dict): ``n_source``, ``n_target_train``, ``n_target_val``,
            ``n_source_val``: ints >= 0.

    Returns:
        tuple[int, int]: The size as ints.
    """
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 32:
        raise ValueError(f'{what}: size must be (H, W) with H, W >= 32, '
                         f'got {size}')
    for key, n in counts.items():
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f'{what}: {key} must be an int >= 0, got {n!r}')
    return size


def write_task(root: str,
               what: str,
               render: Callable[[str, int], tuple],
               counts: Dict[str, int],
               city: str,
               columns: Optional[Sequence[str]] = None) -> str:
    """Render every split of a task and write it into ``root`` (not atomic:
    :func:`.generated_cache.ensure_generated` makes it so).

    Args:
        root (str): Output folder.
        what (str): Name of the data set in error messages.
        render (callable): ``render(domain, index)`` with ``domain`` one of
            ``'source'``, ``'source_val'``, ``'target_train'``,
            ``'target_val'``; returns ``(image, label, row)``: an RGB
            (H, W, 3) uint8 image, an (H, W) uint8 label map and, for the
            target splits when ``columns`` is given, the image's row of the
            conditions table (the values after the image name).
        counts (dict): ``n_<domain>``: images per split.
        city (str): The target's Cityscapes city folder and file prefix.
        columns (Sequence[str], optional): Columns of
            ``target/conditions_{train,val}.csv`` after ``image``; None
            writes no table.

    Returns:
        str: ``root``.
    """
    for domain in SOURCE_DOMAINS:
        img_dir = osp.join(root, domain, 'images')
        lbl_dir = osp.join(root, domain, 'labels')
        for d in (img_dir, lbl_dir):
            os.makedirs(d, exist_ok=True)
        for i in range(counts[f'n_{domain}']):
            img, lbl, _ = render(domain, i)
            write_png(osp.join(img_dir, f'{i:05d}.png'), img, what)
            write_png(osp.join(lbl_dir, f'{i:05d}_labelTrainIds.png'), lbl,
                      what)
    for split in TARGET_SPLITS:
        img_dir = osp.join(root, 'target', 'leftImg8bit', split, city)
        lbl_dir = osp.join(root, 'target', 'gtFine', split, city)
        for d in (img_dir, lbl_dir):
            os.makedirs(d, exist_ok=True)
        rows = []
        for i in range(counts[f'n_target_{split}']):
            img, lbl, row = render(f'target_{split}', i)
            stem = f'{city}_{i:06d}'
            write_png(osp.join(img_dir, f'{stem}_leftImg8bit.png'), img,
                      what)
            write_png(
                osp.join(lbl_dir, f'{stem}_gtFine_labelTrainIds.png'), lbl,
                what)
            if columns is not None:
                rows.append((stem, *row))
        if columns is not None:
            with open(osp.join(root, 'target', f'conditions_{split}.csv'),
                      'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(('image', *columns))
                writer.writerows(rows)
    return root


def generation_cli(what: str, ensure: Callable, default_root: Callable,
                   argv=None) -> None:
    """``python -m clst_mmseg.datasets.<task> [--root DIR] [--seed N]``:
    generate the task (cached) and print its folder.

    Args:
        what (str): The task's name.
        ensure (callable): ``ensure(root, seed)`` of the task.
        default_root (callable): ``default_root()`` of the task (for the
            help text).
        argv (list[str], optional): Arguments; defaults to ``sys.argv``.
    """
    parser = argparse.ArgumentParser(
        description=f'Generate the built-in {what} UDA task (cached).')
    parser.add_argument('--root', default=None,
                        help=f'output folder (default: {default_root()})')
    parser.add_argument('--seed', type=int, default=0, help='data set seed')
    args = parser.parse_args(argv)
    print(ensure(args.root, args.seed))
