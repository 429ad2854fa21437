"""Dataset classes of the built-in adverse task.

The mini task's dataset classes with the adverse task's class list and, when
no ``data_root`` is given, its cached data
(:func:`clst_mmseg.datasets.adverse.ensure_adverse`); everything else
(GTA5 / Cityscapes layouts and loading) is inherited.
"""
import os.path as osp

from mmseg.registry import DATASETS

from .adverse import ADVERSE_CLASSES, ADVERSE_PALETTE, ensure_adverse
from .mini_datasets import MiniSourceDataset, MiniTargetDataset

_ADVERSE_META = dict(classes=ADVERSE_CLASSES, palette=ADVERSE_PALETTE)


@DATASETS.register_module()
class AdverseSourceDataset(MiniSourceDataset):
    """Labelled clear-day domain of the adverse task (GTA5 layout).

    Args:
        data_root (str, optional): Folder holding ``images/`` and ``labels/``;
            defaults to ``<ensure_adverse()>/source`` (``split='train'``) or
            ``<ensure_adverse()>/source_val`` (``split='val'``, held out).
        **kwargs: Arguments of :class:`MiniSourceDataset`.
    """
    METAINFO = _ADVERSE_META

    @staticmethod
    def generated_root() -> str:
        return ensure_adverse()


@DATASETS.register_module()
class AdverseTargetDataset(MiniTargetDataset):
    """Adverse-condition domain of the adverse task (night, fog, rain;
    Cityscapes layout, ``train`` used without labels for adaptation, ``val``
    for evaluation).

    Args:
        data_root (str, optional): Folder holding ``leftImg8bit/`` and
            ``gtFine/``; defaults to ``<ensure_adverse()>/target``.
        **kwargs: Arguments of :class:`MiniTargetDataset`.
    """
    METAINFO = _ADVERSE_META

    @staticmethod
    def default_data_root() -> str:
        return osp.join(ensure_adverse(), 'target')
