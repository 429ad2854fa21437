"""The paired dataset of unsupervised domain adaptation."""
from typing import Optional

import numpy as np
from mmseg.registry import DATASETS

from .rare_class_sampling import RareClassSampler


@DATASETS.register_module()
class UDADataset:
    """Pairs a labelled source sample with an unlabelled target sample.

    Item ``i`` holds source sample ``i mod len(source)`` and a target sample
    drawn uniformly at random (numpy's global generator, which mmengine seeds
    per worker), so every target image is seen regardless of the dataset
    sizes. With ``rare_class_sampling`` the source sample is drawn by
    DAFormer's rare class sampling instead (:class:`RareClassSampler`; the
    index is not used). The target sample keeps its dataset index (``sample_idx``) and the
    geometric transform its pipeline applied (``scale_factor``, ``flip``,
    ``crop_bbox``) in its meta information.

    Args:
        source (dict): Config of the labelled source dataset.
        target (dict): Config of the target dataset. Its pipeline normally
            does not load annotations.
        metainfo (dict, optional): Overrides the meta information, which is
            otherwise the source dataset's. Defaults to None.
        rare_class_sampling (dict, optional): Arguments of
            :class:`RareClassSampler` (``class_temp``, ``min_pixels``,
            ``min_crop_ratio``, ``max_crop_retries``); None samples the
            source by index. Defaults to None.

    Returns items ``dict(inputs, data_samples, target_inputs,
    target_data_samples)``.
    """

    def __init__(self, source: dict, target: dict,
                 metainfo: Optional[dict] = None,
                 rare_class_sampling: Optional[dict] = None):
        self.source = DATASETS.build(source)
        self.target = DATASETS.build(target)
        src_classes = tuple(self.source.metainfo['classes'])
        tgt_classes = tuple(self.target.metainfo['classes'])
        if src_classes != tgt_classes:
            raise ValueError(
                'UDADataset: source and target datasets have different '
                f'classes: {src_classes} vs {tgt_classes}')
        self._metainfo = dict(self.source.metainfo)
        if metainfo:
            self._metainfo.update(metainfo)
        self.rare_class_sampler = None
        if rare_class_sampling is not None:
            self.rare_class_sampler = RareClassSampler(
                self.source, **rare_class_sampling)

    @property
    def metainfo(self) -> dict:
        return dict(self._metainfo)

    def __len__(self) -> int:
        return max(len(self.source), len(self.target))

    def __getitem__(self, idx: int) -> dict:
        if self.rare_class_sampler is not None:
            src = self.rare_class_sampler.sample()
        else:
            src = self.source[idx % len(self.source)]
        tgt = self.target[np.random.randint(len(self.target))]
        return dict(
            inputs=src['inputs'],
            data_samples=src['data_samples'],
            target_inputs=tgt['inputs'],
            target_data_samples=tgt['data_samples'])
