"""Loading transforms that keep what they decoded in memory.

A small data set is decoded again every time a sample is drawn: on the mini
task (64x64 PNGs) decoding is about half of the data-loading time of an
iteration. These subclasses of mmcv's ``LoadImageFromFile`` and mmseg's
``LoadAnnotations`` decode each file once per process and then hand out
copies of the decoded array, so every later transform sees exactly the
array the parent class would have produced (the file is assumed not to
change during the run). The memory is bounded: once ``cache_mb`` is full,
further files are decoded each time as usual. With dataloader workers each
worker holds its own cache.
"""
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS


class DecodedCache:
    """Decoded arrays by file path, up to a memory budget.

    Args:
        max_mb (float): Budget in MiB (decoded bytes); files beyond it are
            not kept.
    """

    def __init__(self, max_mb: float) -> None:
        if not max_mb >= 0:
            raise ValueError(f'cache_mb must be >= 0, got {max_mb!r}')
        self.max_bytes = int(max_mb * 2**20)
        self.nbytes = 0
        self._arrays: Dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._arrays)

    def get(self, path: str) -> Optional[np.ndarray]:
        """A copy of the array kept for ``path`` (None if not kept)."""
        array = self._arrays.get(path)
        return None if array is None else array.copy()

    def put(self, path: str, array: np.ndarray) -> None:
        """Keep a copy of ``array`` if the budget allows."""
        if path in self._arrays or \
                self.nbytes + array.nbytes > self.max_bytes:
            return
        self._arrays[path] = array.copy()
        self.nbytes += array.nbytes


@TRANSFORMS.register_module()
class CachedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that decodes each image once per process.

    Args:
        cache_mb (float): Memory budget of the decoded images in MiB.
            Defaults to 512.
        **kwargs: Arguments of ``mmcv.transforms.LoadImageFromFile``.
    """

    def __init__(self, cache_mb: float = 512, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = DecodedCache(cache_mb)

    def transform(self, results: dict) -> Optional[dict]:
        img = self.cache.get(results['img_path'])
        if img is None:
            results = super().transform(results)
            if results is not None:
                self.cache.put(results['img_path'], results['img'])
            return results
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class CachedLoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that decodes each label map once per
    process. What is kept is the finished ``gt_seg_map`` (after the data
    set's ``label_map`` and ``reduce_zero_label``, which are fixed for the
    data set that owns this pipeline).

    Args:
        cache_mb (float): Memory budget of the decoded label maps in MiB.
            Defaults to 512.
        **kwargs: Arguments of ``mmseg.datasets.transforms.LoadAnnotations``.
    """

    def __init__(self, cache_mb: float = 512, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = DecodedCache(cache_mb)

    def _load_seg_map(self, results: dict) -> None:
        seg = self.cache.get(results['seg_map_path'])
        if seg is None:
            super()._load_seg_map(results)
            self.cache.put(results['seg_map_path'], results['gt_seg_map'])
            return
        results['gt_seg_map'] = seg
        results['seg_fields'].append('gt_seg_map')
