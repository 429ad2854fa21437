"""Dataset classes of the built-in mini task.

They inherit all loading code from the real datasets (the source is in the
GTA5 layout, the target in the Cityscapes layout) and only fix the class list
and, when no ``data_root`` is given, generate/locate the cached data with
:func:`clst_mmseg.datasets.mini.ensure_mini`.
"""
import os.path as osp
from typing import Optional

from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from .gta import GTADataset
from .mini import MINI_CLASSES, MINI_PALETTE, ensure_mini

_MINI_META = dict(classes=MINI_CLASSES, palette=MINI_PALETTE)


@DATASETS.register_module()
class MiniSourceDataset(GTADataset):
    """Labelled "synthetic" domain of the mini task (GTA5 layout).

    Args:
        data_root (str, optional): Folder holding ``images/`` and ``labels/``;
            defaults to the generated split's folder.
        split (str): ``'train'`` (``<ensure_mini()>/source``, the images
            methods train on) or ``'val'`` (``<ensure_mini()>/source_val``,
            a held-out labelled slice, never trained on). Defaults to
            ``'train'``.
        **kwargs: Arguments of :class:`GTADataset`.
    """
    METAINFO = _MINI_META
    SPLITS = dict(train='source', val='source_val')

    @staticmethod
    def generated_root() -> str:
        """The generated task's folder (created on first use)."""
        return ensure_mini()

    @classmethod
    def default_data_root(cls, split: str = 'train') -> str:
        if split not in cls.SPLITS:
            raise ValueError(f'{cls.__name__}: split must be one of '
                             f'{sorted(cls.SPLITS)}, got {split!r}')
        return osp.join(cls.generated_root(), cls.SPLITS[split])

    def __init__(self, data_root: Optional[str] = None, split: str = 'train',
                 **kwargs) -> None:
        super().__init__(
            data_root=data_root or self.default_data_root(split), **kwargs)


@DATASETS.register_module()
class MiniTargetDataset(CityscapesDataset):
    """"Real" domain of the mini task (Cityscapes layout, ``train`` used
    without labels for adaptation, ``val`` for evaluation).

    Args:
        data_root (str, optional): Folder holding ``leftImg8bit/`` and
            ``gtFine/``; defaults to ``<ensure_mini()>/target``.
        **kwargs: Arguments of :class:`mmseg.datasets.CityscapesDataset`.
    """
    METAINFO = _MINI_META

    @staticmethod
    def default_data_root() -> str:
        return osp.join(ensure_mini(), 'target')

    def __init__(self, data_root: Optional[str] = None, **kwargs) -> None:
        super().__init__(
            data_root=data_root or self.default_data_root(), **kwargs)
