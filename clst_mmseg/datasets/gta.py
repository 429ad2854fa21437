"""GTA5 dataset (source domain of GTA5 -> Cityscapes)."""
from mmseg.registry import DATASETS

from .trainid_dataset import TrainIdSegDataset


@DATASETS.register_module()
class GTADataset(TrainIdSegDataset):
    """GTA5 ("Playing for Data") with labels converted to Cityscapes trainIds.

    Layout (``tools/convert_datasets/gta.py`` writes the label files)::

        data_root/images/00001.png
        data_root/labels/00001_labelTrainIds.png

    Args:
        img_suffix (str): Suffix of images. Defaults to '.png'.
        seg_map_suffix (str): Suffix of label files.
            Defaults to '_labelTrainIds.png'.
        data_prefix (dict): Image and label folders relative to
            ``data_root``. Defaults to
            ``dict(img_path='images', seg_map_path='labels')``.
        **kwargs: Other arguments of :class:`BaseSegDataset`, ``metainfo``
            included (see :class:`TrainIdSegDataset`).
    """

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '_labelTrainIds.png',
                 data_prefix: dict = dict(
                     img_path='images', seg_map_path='labels'),
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)
