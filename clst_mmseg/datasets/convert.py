"""Label conversion shared by ``tools/convert_datasets/{gta,synthia,
cityscapes}.py``: official label files -> ``*_labelTrainIds.png`` (uint8
Cityscapes trainIds, 255 = ignore) written next to them.

Conversion is idempotent: an output that exists and is not older than its
input is skipped, and outputs are written to a temporary file first and then
renamed, so an interrupted run never leaves a truncated label behind.

Some GTA5 labels do not have their image's size. The official loaders
resize image and label independently to one size when they load them
(AdaptSegNet's and DACS's ``gta5_dataset.py``: ``image.resize(size,
BICUBIC)``, ``label.resize(size, NEAREST)``; ADVENT's ``base_dataset.py``
the same; DAFormer's mmseg 0.x ``Resize`` rescales the label to the image's
target scale on its own), so a label that differs is stretched over its
image. The GTA5 converter does that once: the trainId label is resized to
its image's size, nearest neighbour, and the converter lists each one.
"""
import argparse
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress
from PIL import Image

from .cityscapes_labels import (CITYSCAPES_CLASSES, IGNORE_INDEX,
                                label_id_to_train_id_lut)
from .synthia_labels import synthia_id_to_train_id_lut

TRAIN_ID_SUFFIX = '_labelTrainIds.png'
CONVERTED, SKIPPED = 'converted', 'skipped'
#: Prefix of the result of a label resized to its image's size.
RESIZED = 'resized: '


def apply_lut(ids: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map an id image through a look-up table.

    Args:
        ids (np.ndarray): Integer id image (any unsigned/signed int dtype).
        lut (np.ndarray): uint8 table; ids outside it map to 255.

    Returns:
        np.ndarray: uint8 trainId image of the same shape.
    """
    ids = np.asarray(ids)
    inside = (ids >= 0) & (ids < len(lut))
    out = np.full(ids.shape, IGNORE_INDEX, dtype=np.uint8)
    out[inside] = lut[ids[inside]]
    return out


def read_label_ids(path: str) -> np.ndarray:
    """Read a single-channel label-id PNG (GTA5, Cityscapes labelIds).

    Palette PNGs (mode 'P', as some GTA5 labels are) give their palette
    indices, which are the label ids.

    Args:
        path (str): Label file.

    Returns:
        np.ndarray: 2-D integer array of label ids.
    """
    with Image.open(path) as img:
        if img.mode not in ('L', 'P', 'I', 'I;16', 'I;16B', 'I;16L'):
            raise ValueError(f'{path}: expected a single-channel label-id '
                             f'PNG, got PIL mode {img.mode}')
        return np.array(img)


def read_synthia_ids(path: str) -> np.ndarray:
    """Read the class-id channel of a SYNTHIA label PNG.

    SYNTHIA labels are 16-bit PNGs with the class id in the first (R)
    channel and the instance id in the second. cv2 returns BGR(A), so R is
    channel 2 for 3- and 4-channel files; a 1-channel file is used as is.

    Args:
        path (str): Label file.

    Returns:
        np.ndarray: 2-D array of SYNTHIA class ids.
    """
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'{path}: cannot be read as an image')
    if raw.ndim == 2:
        return raw
    if raw.ndim == 3 and raw.shape[2] in (3, 4):
        return raw[:, :, 2]
    if raw.ndim == 3 and raw.shape[2] == 1:
        return raw[:, :, 0]
    raise ValueError(f'{path}: expected a 1-, 3- or 4-channel SYNTHIA label '
                     f'PNG, got shape {raw.shape}')


@dataclass(frozen=True)
class LabelSource:
    """Where one dataset keeps its official labels and how to read them.

    Attributes:
        label_dir (str): Label folder relative to the data root.
        src_suffix (str): Suffix of official label files.
        dst_suffix (str): Suffix replacing ``src_suffix`` in the output.
        recursive (bool): Whether to search sub-folders.
        reader (callable): path -> id image.
        lut (callable): () -> uint8 id->trainId table.
        image_of (callable, optional): official label path -> its image;
            given, a label whose size differs from its image's is resized
            to it (nearest neighbour).
    """
    label_dir: str
    src_suffix: str
    dst_suffix: str
    recursive: bool
    reader: Callable[[str], np.ndarray]
    lut: Callable[[], np.ndarray]
    image_of: Optional[Callable[[str], str]] = None


def gta_image_of(label: str) -> str:
    """GTA5's image of an official label: ``labels/00001.png`` ->
    ``images/00001.png``."""
    root = osp.dirname(osp.dirname(label))
    return osp.join(root, 'images', osp.basename(label))


LABEL_SOURCES: Dict[str, LabelSource] = {
    'gta': LabelSource('labels', '.png', TRAIN_ID_SUFFIX, False,
                       read_label_ids, label_id_to_train_id_lut,
                       gta_image_of),
    'synthia': LabelSource('GT/LABELS', '.png', TRAIN_ID_SUFFIX, False,
                           read_synthia_ids, synthia_id_to_train_id_lut),
    'cityscapes': LabelSource('gtFine', '_gtFine_labelIds.png',
                              '_gtFine_labelTrainIds.png', True,
                              read_label_ids, label_id_to_train_id_lut),
}


@lru_cache(maxsize=None)
def _lut(dataset: str) -> np.ndarray:
    return LABEL_SOURCES[dataset].lut()


def find_label_pairs(dataset: str, data_root: str) -> List[Tuple[str, str]]:
    """List (official label, trainId output) path pairs of a dataset.

    Args:
        dataset (str): One of ``LABEL_SOURCES`` ('gta', 'synthia',
            'cityscapes').
        data_root (str): Dataset root folder.

    Returns:
        list[tuple[str, str]]: Sorted pairs.
    """
    src = LABEL_SOURCES[dataset]
    label_dir = osp.join(data_root, src.label_dir)
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'data root {data_root} does not exist')
    if not osp.isdir(label_dir):
        raise FileNotFoundError(
            f'{label_dir} does not exist (expected the official {dataset} '
            f'labels in DATA_ROOT/{src.label_dir})')
    pairs = []
    for dirpath, dirnames, filenames in os.walk(label_dir):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(src.src_suffix) and \
                    not name.endswith(src.dst_suffix):
                stem = name[:-len(src.src_suffix)]
                pairs.append((osp.join(dirpath, name),
                              osp.join(dirpath, stem + src.dst_suffix)))
        if not src.recursive:
            break
    if not pairs:
        raise FileNotFoundError(
            f'no label files *{src.src_suffix} found in {label_dir}')
    return pairs


def is_up_to_date(src: str, dst: str) -> bool:
    """Whether ``dst`` exists and is not older than ``src``."""
    return osp.isfile(dst) and osp.getmtime(dst) >= osp.getmtime(src)


def convert_label_file(task: Tuple[str, str, str, bool]) -> str:
    """Convert one official label file to a trainId PNG.

    Args:
        task (tuple): ``(dataset, src, dst, force)``; module-level and
            picklable so that it runs in worker processes.

    Returns:
        str: 'converted', 'skipped', 'resized: <src>: label WxH -> image
        WxH' (converted and resized to its image's size) or '<src>:
        <error>' on failure.
    """
    dataset, src, dst, force = task
    if not force and is_up_to_date(src, dst):
        return SKIPPED
    source = LABEL_SOURCES[dataset]
    status = CONVERTED
    try:
        ids = source.reader(src)
        out = Image.fromarray(apply_lut(ids, _lut(dataset)))
        image = source.image_of(src) if source.image_of else None
        if image is not None and osp.isfile(image):
            with Image.open(image) as img:
                size = img.size
            if size != out.size:
                status = (f'{RESIZED}{src}: label {out.size[0]}x'
                          f'{out.size[1]} -> image {size[0]}x{size[1]}')
                out = out.resize(size, Image.NEAREST)
        tmp = f'{dst}.tmp-{os.getpid()}'
        out.save(tmp, format='PNG')
        os.replace(tmp, dst)
    except Exception as e:  # reported in the summary; other files go on
        msg = str(e)
        return msg if msg.startswith(src) else f'{src}: {msg}'
    return status


@dataclass
class ConversionSummary:
    """Counts of one conversion run (``resized``: converted labels resized
    to their image's size, one line each)."""
    converted: int = 0
    skipped: int = 0
    failed: List[str] = field(default_factory=list)
    resized: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f'converted {self.converted}, skipped {self.skipped} '
                f'(up to date), failed {len(self.failed)}' +
                (f'; {len(self.resized)} of the converted resized to their '
                 'image\'s size' if self.resized else ''))


def convert_dataset(dataset: str,
                    data_root: str,
                    nproc: int = 1,
                    force: bool = False) -> ConversionSummary:
    """Write ``*_labelTrainIds.png`` for every official label of a dataset.

    Args:
        dataset (str): 'gta', 'synthia' or 'cityscapes'.
        data_root (str): Dataset root folder.
        nproc (int): Worker processes. Defaults to 1.
        force (bool): Rewrite outputs that are up to date. Defaults to False.

    Returns:
        ConversionSummary: What was converted, skipped and failed.
    """
    tasks = [(dataset, src, dst, force)
             for src, dst in find_label_pairs(dataset, data_root)]
    if nproc > 1:
        results = track_parallel_progress(
            convert_label_file, tasks, nproc=nproc, chunksize=16)
    else:
        results = track_progress(convert_label_file, tasks)
    summary = ConversionSummary()
    for r in results:
        if r == CONVERTED:
            summary.converted += 1
        elif r.startswith(RESIZED):
            summary.converted += 1
            summary.resized.append(r[len(RESIZED):])
        elif r == SKIPPED:
            summary.skipped += 1
        else:
            summary.failed.append(r)
    return summary


def conversion_cli(dataset: str,
                   argv: Optional[Sequence[str]] = None,
                   description: Optional[str] = None) -> int:
    """The command line shared by the three converter tools.

    Args:
        dataset (str): 'gta', 'synthia' or 'cityscapes'.
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.
        description (str, optional): Help text.

    Returns:
        int: Exit code (0 on success, 1 if any file failed).
    """
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='dataset root folder')
    parser.add_argument(
        '--nproc', type=int, default=min(8, os.cpu_count() or 1),
        help='number of worker processes')
    parser.add_argument(
        '--force', action='store_true',
        help='rewrite outputs even when they are up to date')
    args = parser.parse_args(argv)
    start = time.time()
    try:
        summary = convert_dataset(
            dataset, args.data_root, nproc=args.nproc, force=args.force)
    except FileNotFoundError as e:
        print(f'error: {e}')
        return 1
    print(f'\n{dataset} labels in {args.data_root}: {summary} '
          f'in {time.time() - start:.1f} s')
    if summary.resized:
        print(f'{len(summary.resized)} label(s) did not have their image\'s '
              'size and were resized to it (nearest neighbour), as the '
              'official loaders do when they load them (AdaptSegNet, ADVENT, '
              'DACS: image and label resized to one size; DAFormer: the '
              'label rescaled to the image\'s scale):')
        for line in summary.resized[:20]:
            print(f'  resized: {line}')
        if len(summary.resized) > 20:
            print(f'  ... and {len(summary.resized) - 20} more')
    for line in summary.failed[:20]:
        print(f'  failed: {line}')
    if len(summary.failed) > 20:
        print(f'  ... and {len(summary.failed) - 20} more')
    if summary.failed:
        return 1
    path = write_dataset_class_stats(dataset, args.data_root, args.nproc)
    print(f'class statistics (rare class sampling): {path}')
    return 0


def write_dataset_class_stats(dataset: str, data_root: str,
                              nproc: int = 1) -> str:
    """Write the per-image class statistics of the converted labels beside
    the data (``DATA_ROOT/sample_class_stats.json``, read by rare class
    sampling), as DAFormer's converters do; Cityscapes: the train split only
    (as DAFormer's ``cityscapes.py``).

    Returns:
        str: The statistics file.
    """
    from .class_stats import compute_class_stats, write_class_stats
    labels = [dst for _, dst in find_label_pairs(dataset, data_root)]
    if dataset == 'cityscapes':
        train = osp.join(data_root, LABEL_SOURCES[dataset].label_dir,
                         'train') + os.sep
        labels = [p for p in labels if p.startswith(train)]
    num_classes = len(CITYSCAPES_CLASSES)  # trainIds of every dataset
    stats = compute_class_stats(data_root, labels, num_classes, IGNORE_INDEX,
                                nproc=nproc)
    return write_class_stats(data_root, stats, num_classes, IGNORE_INDEX)
