"""Base class of the datasets whose converted labels are Cityscapes
trainIds (GTA5, SYNTHIA)."""
import copy
from typing import Dict, Mapping, Optional, Sequence, Union

from mmseg.datasets import BaseSegDataset

from .cityscapes_labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE


class TrainIdSegDataset(BaseSegDataset):
    """A :class:`BaseSegDataset` labelled with the 19 Cityscapes trainIds.

    ``metainfo=dict(classes=...)`` works as in mmseg, plus one case mmseg
    rejects: classes that are *not* a subset of the 19 declare a different
    label set stored in the same on-disk layout (the built-in toy task does
    this). Their label files already hold indices into the given classes, so
    no label map is applied, and without a given ``palette`` one is generated.
    A subset of the 19 keeps mmseg's behaviour (labels are remapped).
    """
    METAINFO = dict(
        classes=CITYSCAPES_CLASSES, palette=copy.deepcopy(CITYSCAPES_PALETTE))

    @classmethod
    def _is_new_label_set(cls, classes: Optional[Sequence]) -> bool:
        return classes is not None and not set(classes).issubset(
            cls.METAINFO['classes'])

    @classmethod
    def _load_metainfo(cls,
                       metainfo: Union[Mapping, None] = None) -> dict:
        info = super()._load_metainfo(metainfo)
        given = metainfo or {}
        if cls._is_new_label_set(given.get('classes')) \
                and 'palette' not in given:
            # The 19 inherited colours do not describe the new classes;
            # an empty palette makes mmseg generate a seeded one.
            info['palette'] = []
        return info

    @classmethod
    def get_label_map(cls,
                      new_classes: Optional[Sequence] = None
                      ) -> Union[Dict, None]:
        if cls._is_new_label_set(new_classes):
            return None
        return super().get_label_map(new_classes)
