"""SYNTHIA-RAND-CITYSCAPES dataset (source domain of SYNTHIA -> Cityscapes)."""
from mmseg.registry import DATASETS

from .trainid_dataset import TrainIdSegDataset


@DATASETS.register_module()
class SynthiaDataset(TrainIdSegDataset):
    """SYNTHIA-RAND-CITYSCAPES with labels converted to Cityscapes trainIds.

    The converter (``tools/convert_datasets/synthia.py``, table
    ``synthia_label_map.csv``) maps terrain, truck and train to 255, so only
    16 of the 19 classes occur; the class list stays the 19 Cityscapes
    classes so that source and target share one label space.

    Layout::

        data_root/RGB/0000000.png
        data_root/GT/LABELS/0000000_labelTrainIds.png

    Args:
        img_suffix (str): Suffix of images. Defaults to '.png'.
        seg_map_suffix (str): Suffix of label files.
            Defaults to '_labelTrainIds.png'.
        data_prefix (dict): Image and label folders relative to
            ``data_root``. Defaults to
            ``dict(img_path='RGB', seg_map_path='GT/LABELS')``.
        **kwargs: Other arguments of :class:`BaseSegDataset`, ``metainfo``
            included (see :class:`TrainIdSegDataset`).
    """

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '_labelTrainIds.png',
                 data_prefix: dict = dict(
                     img_path='RGB', seg_map_path='GT/LABELS'),
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)
