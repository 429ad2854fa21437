"""Dataset classes of the built-in aerial task.

The mini task's dataset classes with the aerial task's class list and, when
no ``data_root`` is given, its cached data
(:func:`clst_mmseg.datasets.aerial.ensure_aerial`); everything else
(GTA5 / Cityscapes layouts and loading) is inherited.
"""
import os.path as osp

from mmseg.registry import DATASETS

from .aerial import AERIAL_CLASSES, AERIAL_PALETTE, ensure_aerial
from .mini_datasets import MiniSourceDataset, MiniTargetDataset

_AERIAL_META = dict(classes=AERIAL_CLASSES, palette=AERIAL_PALETTE)


@DATASETS.register_module()
class AerialSourceDataset(MiniSourceDataset):
    """Labelled domain of the aerial task: mostly dense town, summer, true
    colour (GTA5 layout).

    Args:
        data_root (str, optional): Folder holding ``images/`` and ``labels/``;
            defaults to ``<ensure_aerial()>/source`` (``split='train'``) or
            ``<ensure_aerial()>/source_val`` (``split='val'``, held out).
        **kwargs: Arguments of :class:`MiniSourceDataset`.
    """
    METAINFO = _AERIAL_META

    @staticmethod
    def generated_root() -> str:
        return ensure_aerial()


@DATASETS.register_module()
class AerialTargetDataset(MiniTargetDataset):
    """Target domain of the aerial task: mostly countryside, towards winter
    and the false-colour camera (Cityscapes layout, ``train`` used without
    labels for adaptation, ``val`` for evaluation).

    Args:
        data_root (str, optional): Folder holding ``leftImg8bit/`` and
            ``gtFine/``; defaults to ``<ensure_aerial()>/target``.
        **kwargs: Arguments of :class:`MiniTargetDataset`.
    """
    METAINFO = _AERIAL_META

    @staticmethod
    def default_data_root() -> str:
        return osp.join(ensure_aerial(), 'target')
