"""MIC: masked image consistency (Hoyer, Dai, Wang, Van Gool, CVPR 2023) on
DAFormer's training."""
from typing import Optional

from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..utils import PhotometricAugment
from ..utils.masking import mask_image
from .dacs import pixel_weighted_ce
from .daformer import DAFormer
from .self_training import full_res_logits


@MODELS.register_module()
class MIC(DAFormer):
    """DAFormer plus MIC's masked consistency term, as the release runs it on
    DAFormer (lhoyer/MIC ``seg/mmseg/models/uda/dacs.py``,
    ``masking_consistency_module.py``, ``masking_transforms.py``;
    ``seg/experiments.py`` id 81: ``mask_mode='separatetrgaug'``,
    ``mask_alpha='same'``, ``mask_pseudo_threshold='same'``):

    the target batch gets its own colour jitter and blur
    (``mask_augment``), then random blocks of ``mask_block_size`` pixels are
    set to 0 (the normalisation mean) with probability ``mask_ratio``; the
    student is trained on it with ``mask_loss_weight`` x the pixel-weighted
    cross-entropy against the pseudo-labels and weights the same EMA teacher
    gave on the complete, unaugmented target batch (those of the DAFormer
    term: its confident-fraction weight, 0 on the crop margins; MIC keeps no
    teacher of its own when alpha and threshold are 'same').

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        mask_ratio (float): Share of masked blocks. Defaults to 0.7.
        mask_block_size (int): Block side in pixels. Defaults to 32.
        mask_loss_weight (float): lambda of the masked term. Defaults to 1.
        mask_augment (dict, optional): Arguments of
            :class:`PhotometricAugment` for the masked input; None: no
            augmentation. Defaults to ``dict()``.
        **kwargs: Arguments of :class:`DAFormer` and :class:`DACS`.
    """

    knob_ranges = {
        'mask_ratio': '[0, 1)',
        'mask_block_size': 'int [1, inf)',
        'mask_loss_weight': '[0, inf)',
        **{f'mask_augment.{k}': v
           for k, v in PhotometricAugment.knob_ranges.items()},
    }

    def __init__(self,
                 segmentor: ConfigType,
                 mask_ratio: float = 0.7,
                 mask_block_size: int = 32,
                 mask_loss_weight: float = 1.0,
                 mask_augment: Optional[dict] = dict(),
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None,
                 **kwargs):
        super().__init__(segmentor, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg, **kwargs)
        if not 0 <= mask_ratio < 1:
            raise ValueError(f'MIC: mask_ratio must be in [0, 1), got '
                             f'{mask_ratio}')
        if int(mask_block_size) != mask_block_size or mask_block_size < 1:
            raise ValueError('MIC: mask_block_size must be an integer >= 1, '
                             f'got {mask_block_size!r}')
        self.mask_ratio = float(mask_ratio)
        self.mask_block_size = int(mask_block_size)
        self.mask_loss_weight = float(mask_loss_weight)
        self.mask_augment = self.build_augment(mask_augment, 'mask_augment')

    def masked_loss(self, target_inputs: Tensor, pl_labels: Tensor,
                    pl_weights: Tensor) -> dict:
        """``masked.loss_ce``: the student on the augmented, block-masked
        target batch against the teacher's pseudo-labels."""
        img = target_inputs
        if self.mask_augment is not None:
            img = self.mask_augment(img)
        img = mask_image(img, self.mask_ratio, self.mask_block_size)
        logits = full_res_logits(self.segmentor, img)
        return {'masked.loss_ce': self.mask_loss_weight * pixel_weighted_ce(
            logits, pl_labels, pl_weights)}

    def target_terms(self, inputs: Tensor, data_samples: SampleList,
                     target_inputs: Tensor, target_data_samples: SampleList,
                     pl_labels: Tensor, pl_weights: Tensor) -> dict:
        """DAFormer's mixed loss, then the masked consistency term with the
        same pseudo-labels."""
        losses = super().target_terms(inputs, data_samples, target_inputs,
                                      target_data_samples, pl_labels,
                                      pl_weights)
        losses.update(self.masked_loss(target_inputs, pl_labels, pl_weights))
        # diagnostics: the masked term trains on the pseudo-labels of every
        # target pixel outside the margins (not only where nothing is
        # pasted)
        valid = self.valid_pseudo_region(pl_labels)
        self.record_pseudo_labels(
            pl_labels if valid is None else pl_labels.masked_fill(~valid, 255),
            target_data_samples)
        return losses
