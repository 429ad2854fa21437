"""Geometric transforms that record what they did to a sample.

Per-image state kept across iterations (the temporal ensemble) needs to map a
prediction on the augmented input back to the image's own frame. mmcv's
``RandomResize`` and ``RandomFlip`` already record ``scale_factor``, ``flip``
and ``flip_direction``; mmseg's ``RandomCrop`` does not record its box, so this
subclass does.
"""
from mmseg.datasets.transforms import PackSegInputs, RandomCrop
from mmseg.registry import TRANSFORMS

UDA_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                 'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                 'reduce_zero_label', 'sample_idx', 'crop_bbox')


@TRANSFORMS.register_module()
class RecordedRandomCrop(RandomCrop):
    """``RandomCrop`` that stores its box in ``results['crop_bbox']``.

    The box is ``(y1, y2, x1, x2)`` in the coordinates of the image as it was
    when the crop was taken (after any resize before it). Arguments are those
    of :class:`mmseg.datasets.transforms.RandomCrop`.
    """

    def crop_bbox(self, results: dict) -> tuple:
        bbox = super().crop_bbox(results)
        results['crop_bbox'] = tuple(int(v) for v in bbox)
        return bbox


@TRANSFORMS.register_module()
class PackUDAInputs(PackSegInputs):
    """``PackSegInputs`` that also keeps ``sample_idx`` (the index in the
    sample's dataset) and ``crop_bbox``, so a prediction can be mapped back
    to the image's own frame.

    Args:
        meta_keys (Sequence[str]): Defaults to :data:`UDA_META_KEYS`.
    """

    def __init__(self, meta_keys=UDA_META_KEYS):
        super().__init__(meta_keys=meta_keys)
