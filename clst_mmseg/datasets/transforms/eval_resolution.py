"""Score predictions against labels at a chosen resolution."""
from typing import Sequence

import mmcv
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeLabelsForEval(BaseTransform):
    """Resize the loaded label map (nearest neighbour) and make it the
    sample's original shape, so that the segmentor resizes its prediction
    to it and the metric compares at that resolution.

    Some papers score against down-sampled labels, e.g. DACS
    (``evaluateUDA.py``: Cityscapes labels resized to 512x1024). Put it
    after ``LoadAnnotations``; the image pipeline is unaffected.

    Args:
        scale (Sequence[int]): Label size as (w, h), mmcv's convention.
    """

    def __init__(self, scale: Sequence[int]) -> None:
        super().__init__()
        if len(scale) != 2 or not all(int(s) > 0 for s in scale):
            raise ValueError('ResizeLabelsForEval: scale must be (w, h) with '
                             f'positive sizes, got {scale!r}')
        self.scale = (int(scale[0]), int(scale[1]))

    def transform(self, results: dict) -> dict:
        if results.get('gt_seg_map') is None:
            raise KeyError('ResizeLabelsForEval: no gt_seg_map; put it after '
                           'LoadAnnotations')
        results['gt_seg_map'] = mmcv.imresize(
            results['gt_seg_map'], self.scale, interpolation='nearest')
        results['ori_shape'] = (self.scale[1], self.scale[0])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale})'
