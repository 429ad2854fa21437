"""Rare class sampling (Hoyer et al., DAFormer, CVPR 2022): source images are
drawn by class instead of uniformly, so that rare classes are seen (and
pseudo-labelled) early. As the release does it (lhoyer/DAFormer
``mmseg/datasets/uda_dataset.py``, ``UDADataset.get_rare_class_sample``):

1. a class ``c`` is drawn with ``P(c) = softmax((1 - f_c) / T)`` over the
   classes of the source set (``f_c``: pixel frequency from the per-image
   class statistics, :mod:`.class_stats`);
2. an image is drawn uniformly among those whose label file holds more than
   ``min_pixels`` pixels of ``c``;
3. its pipeline (random crop included) runs; while the crop holds at most
   ``min_pixels * min_crop_ratio`` pixels of ``c`` the pipeline runs again,
   up to ``max_crop_retries`` times (the release: 10; the last crop is kept
   whatever it holds).
"""
import math
import os.path as osp
from typing import Dict, List

import numpy as np

from .class_stats import (CLASS_STATS_FILE, ClassStatsError,
                          files_with_class, load_class_stats,
                          rcs_class_probs)


class RareClassSampler:
    """Draws samples of a labelled dataset by rare class sampling.

    Draws come from numpy's global generator (as the release's
    ``np.random.choice``; mmengine seeds it per data loader worker and
    ``RNGStateHook`` restores it on resume).

    Args:
        dataset (BaseSegDataset): The labelled source dataset; its
            ``data_root`` holds the class statistics and every label file of
            the dataset must be listed there.
        class_temp (float): Temperature T of the class distribution.
        min_pixels (int): An image is a candidate for class c when its label
            file holds more than this many pixels of c.
        min_crop_ratio (float): A crop is kept at once when it holds more
            than ``min_pixels * min_crop_ratio`` pixels of c; 0 keeps the
            first crop.
        max_crop_retries (int): How many times the pipeline runs again for
            a crop with too few pixels of c. Defaults to 10.
    """

    def __init__(self, dataset, class_temp: float, min_pixels: int,
                 min_crop_ratio: float, max_crop_retries: int = 10):
        if not (isinstance(class_temp, (int, float))
                and math.isfinite(class_temp) and class_temp > 0):
            raise ValueError('rare_class_sampling.class_temp must be a '
                             f'finite number > 0, got {class_temp!r}')
        for name, value in (('min_pixels', min_pixels),
                            ('min_crop_ratio', min_crop_ratio),
                            ('max_crop_retries', max_crop_retries)):
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and value >= 0):
                raise ValueError(f'rare_class_sampling.{name} must be a '
                                 f'finite number >= 0, got {value!r}')
        self.dataset = dataset
        self.min_pixels = min_pixels
        self.min_crop_ratio = float(min_crop_ratio)
        self.max_crop_retries = int(max_crop_retries)
        root = dataset.data_root
        num_classes = len(dataset.metainfo['classes'])
        stats = load_class_stats(root, num_classes)
        index = self._dataset_index(dataset, root)
        missing = sorted(set(index) - set(stats))
        if missing:
            raise ClassStatsError(
                f'{osp.join(root, CLASS_STATS_FILE)} lacks '
                f'{len(missing)} of the dataset\'s {len(index)} label files '
                f'(first: {missing[0]}); rerun the dataset converter')
        stats = {f: stats[f] for f in index}  # this dataset's files only
        self.classes, self.class_probs = rcs_class_probs(stats, class_temp)
        with_class = files_with_class(stats, min_pixels)
        self.indices_with_class: Dict[int, List[int]] = {}
        for c in self.classes:
            files = with_class.get(c, [])
            if not files:
                raise ClassStatsError(
                    f'rare class sampling: no label file of {root} holds '
                    f'more than min_pixels={min_pixels} pixels of class {c}; '
                    'lower rare_class_sampling.min_pixels')
            self.indices_with_class[c] = [index[f] for f in files]

    @staticmethod
    def _dataset_index(dataset, root: str) -> Dict[str, int]:
        """Label path relative to the data root -> dataset index."""
        index = {}
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            path = info.get('seg_map_path')
            if path is None:
                raise ClassStatsError(
                    f'rare class sampling: sample {i} of {root} has no label '
                    'file (seg_map_path)')
            index[osp.relpath(osp.abspath(path), osp.abspath(root))] = i
        return index

    def draw_class(self) -> int:
        """A class drawn with the rare class sampling distribution."""
        return int(np.random.choice(self.classes, p=self.class_probs))

    def sample(self) -> dict:
        """One dataset sample drawn by rare class sampling (the dataset's
        pipeline output)."""
        c = self.draw_class()
        idx = int(np.random.choice(self.indices_with_class[c]))
        sample = self.dataset[idx]
        if self.min_crop_ratio > 0:
            enough = self.min_pixels * self.min_crop_ratio
            for _ in range(self.max_crop_retries):
                n = int((sample['data_samples'].gt_sem_seg.data == c).sum())
                if n > enough:
                    break
                sample = self.dataset[idx]  # the pipeline crops anew
        return sample
