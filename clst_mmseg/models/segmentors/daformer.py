"""DAFormer's training (Hoyer, Dai, Van Gool, CVPR 2022): DACS self-training
with a slower EMA teacher, the thing-class ImageNet feature distance and
pseudo-label crop margins; rare class sampling is the data side
(:class:`~clst_mmseg.datasets.rare_class_sampling.RareClassSampler`), the
warm-up and the optimizer are the schedule's. The network (MiT-B5 + DAFormer
head) is the config's; any mmseg segmentor trains with this recipe."""
from typing import Optional, Sequence

import torch
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..losses.feature_distance import ImageNetFeatureDistance
from .dacs import DACS


@MODELS.register_module()
class DAFormer(DACS):
    """DACS as DAFormer trains it (lhoyer/DAFormer ``mmseg/models/uda/
    dacs.py``), on top of :class:`DACS`:

    - the ImageNet feature distance: ``fd_weight`` x the mean L2 distance
      between the student's source features (``extract_feat`` level
      ``fd_level``) and those of a frozen copy of the ImageNet-initialised
      encoder, on the feature cells whose source label (majority class
      covering at least ``fd_min_ratio`` of the cell) is one of
      ``fd_classes`` (:class:`ImageNetFeatureDistance`); off with
      ``fd_weight=0``, and refused without a pretrained backbone;
    - pseudo-label crop margins: the top ``pseudo_ignore_top`` and bottom
      ``pseudo_ignore_bottom`` rows of the target crop get pseudo-label
      weight 0 (rectification artefacts and the ego vehicle of Cityscapes);
    - ClassMix candidates and augmentation as released (the config's
      ``mix_classes`` and ``mix_augment``).

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        fd_weight (float): lambda of the feature distance (0: off).
        fd_classes (Sequence[int], optional): Classes of the feature
            distance; None: every cell.
        fd_min_ratio (float): Majority share of a feature cell's label.
        fd_level (int): ``extract_feat`` output of the feature distance.
        pseudo_ignore_top (int): Rows at the top of the target crop without
            pseudo-label weight.
        pseudo_ignore_bottom (int): Rows at the bottom, likewise.
        **kwargs: Arguments of :class:`DACS` (``alpha``,
            ``pseudo_threshold``, ``mix_loss_weight``, ``mix_augment``,
            ``mix_classes``, ``data_preprocessor``, ``init_cfg``).
    """

    knob_ranges = {
        'fd_weight': '[0, inf)',
        'fd_classes.*': 'int [0, inf)',
        'fd_min_ratio': '[0, 1]',
        'fd_level': 'int (-inf, inf)',
        'pseudo_ignore_top': 'int [0, inf)',
        'pseudo_ignore_bottom': 'int [0, inf)',
    }

    def __init__(self,
                 segmentor: ConfigType,
                 fd_weight: float = 0.005,
                 fd_classes: Optional[Sequence[int]] = (6, 7, 11, 12, 13, 14,
                                                         15, 16, 17, 18),
                 fd_min_ratio: float = 0.75,
                 fd_level: int = -1,
                 pseudo_ignore_top: int = 0,
                 pseudo_ignore_bottom: int = 0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None,
                 **kwargs):
        super().__init__(segmentor, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg, **kwargs)
        if fd_weight < 0:
            raise ValueError(f'{type(self).__name__}: fd_weight must be >= 0, '
                             f'got {fd_weight}')
        for name, value in (('pseudo_ignore_top', pseudo_ignore_top),
                            ('pseudo_ignore_bottom', pseudo_ignore_bottom)):
            if int(value) != value or value < 0:
                raise ValueError(f'{type(self).__name__}: {name} must be an '
                                 f'integer >= 0, got {value!r}')
        self.pseudo_ignore_top = int(pseudo_ignore_top)
        self.pseudo_ignore_bottom = int(pseudo_ignore_bottom)
        self.fd_weight = float(fd_weight)
        self.feature_distance = None
        if self.fd_weight > 0:
            head = self.segmentor.decode_head
            try:
                self.feature_distance = ImageNetFeatureDistance(
                    self.segmentor, fd_classes, self.fd_weight, fd_min_ratio,
                    self.num_classes, fd_level, head.ignore_index)
            except ValueError as e:
                raise ValueError(f'{type(self).__name__}: {e}') from None

    def valid_pseudo_region(self, labels: Tensor) -> Optional[Tensor]:
        """False on the crop margins (rows), True elsewhere; None without
        margins."""
        top, bottom = self.pseudo_ignore_top, self.pseudo_ignore_bottom
        if not top and not bottom:
            return None
        valid = torch.ones_like(labels, dtype=torch.bool)
        if top:
            valid[:, :top] = False
        if bottom:
            valid[:, -bottom:] = False
        return valid

    def source_loss(self, inputs: Tensor, data_samples: SampleList):
        """The source loss and, when on, the feature distance on the same
        forward pass (``fd.loss``, ``fd.cells``)."""
        losses, feats = super().source_loss(inputs, data_samples)
        if self.feature_distance is not None:
            labels = torch.stack(
                [s.gt_sem_seg.data[0] for s in data_samples]).long()
            losses.update(self.feature_distance(inputs, feats, labels))
        return losses, feats
