"""DACS (Tranheden et al., WACV 2021): mean-teacher pseudo-labels and
ClassMix of source pixels into target images."""
import copy
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn

from ..utils import PhotometricAugment
from ..utils.classmix import class_mix_masks, mix
from .self_training import full_res_logits
from .uda_segmentor import UDASegmentor


class EMATeacher(nn.Module):
    """An exponential moving average of a network (the mean teacher).

    All floating-point state is averaged, BN running statistics included
    (copying the student's BN statistics instead collapsed the pseudo-labels
    of a prototype); integer buffers (``num_batches_tracked``) are copied.
    The rate follows DACS: ``alpha_t = min(1 - 1 / (step + 1), alpha)``, so
    the first update (step 0) copies the student. The teacher always runs in
    eval mode and holds no gradients. Its step count is a buffer, so it is
    checkpointed and a resumed run continues the average instead of
    restarting it from the student.

    Args:
        model (nn.Module): The student; deep-copied.
        alpha (float): Largest EMA decay. Defaults to 0.99.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.99):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f'EMATeacher: alpha must be in [0, 1), got '
                             f'{alpha}')
        self.alpha = float(alpha)
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self.model.eval()
        self.register_buffer('step', torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> 'EMATeacher':
        super().train(mode)
        self.model.eval()
        return self

    def init_weights(self) -> None:
        """Nothing to initialise: the first update copies the student."""

    def current_alpha(self) -> float:
        step = int(self.step)
        return min(1.0 - 1.0 / (step + 1), self.alpha)

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        """Folds the student's current state into the average; advances the
        step count."""
        alpha = self.current_alpha()
        mine = self.model.state_dict()
        for name, value in student.state_dict().items():
            if name not in mine:
                raise KeyError(f'EMATeacher: the student has state {name!r} '
                               'that the teacher lacks')
            if value.is_floating_point():
                mine[name].mul_(alpha).add_(value.detach(), alpha=1 - alpha)
            else:
                mine[name].copy_(value)
        self.step += 1


def pixel_weighted_ce(logits: Tensor, labels: Tensor, weights: Tensor,
                      ignore_index: int = 255) -> Tensor:
    """DACS's mixed loss: per-pixel cross-entropy times a per-pixel weight,
    averaged over all pixels (ignored pixels count as 0).

    Args:
        logits (Tensor): (N, C, H, W).
        labels (Tensor): (N, H, W), long.
        weights (Tensor): (N, H, W).
        ignore_index (int): Defaults to 255.

    Returns:
        Tensor: Scalar loss.
    """
    ce = F.cross_entropy(logits, labels, ignore_index=ignore_index,
                         reduction='none')
    return (ce * weights).mean()


@MODELS.register_module()
class DACS(UDASegmentor):
    """Domain Adaptation via Cross-domain mixed Sampling.

    Each step: the teacher (``self.teacher``, an EMA of the student) is
    updated with the student's current weights, then predicts the plain
    target batch; its arg-max is the pseudo-label and the fraction of
    target pixels whose confidence reaches ``pseudo_threshold`` is the weight
    of every pseudo-labelled pixel. Source image ``i`` is ClassMixed into
    target image ``i`` (half of the source classes, mask from the source
    labels); the mixed batch gets colour jitter and blur; the student is
    trained with source cross-entropy plus ``mix_loss_weight`` times the
    pixel-weighted cross-entropy on the mixed batch (pasted pixels: source
    label, weight 1). Evaluation uses the student.

    Subclasses add terms through :meth:`source_loss` (the source batch and
    its features) and :meth:`target_terms` (given the step's pseudo-labels
    and their per-pixel weights), and restrict the pseudo-labelled region
    with :meth:`valid_pseudo_region`.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        alpha (float): EMA decay of the teacher. Defaults to 0.99.
        pseudo_threshold (float): Confidence that counts a pixel as
            confident for the pseudo-label weight. Defaults to 0.968.
        mix_loss_weight (float): Weight of the mixed loss. Defaults to 1.
        mix_augment (dict, optional): Arguments of
            :class:`PhotometricAugment` for the mixed batch; None turns it
            off.
        mix_classes (str): ClassMix candidates, ``'image'`` (the classes of
            each source image, as DACS) or ``'batch'`` (the values of the
            whole source batch, as DAFormer's release); see
            :func:`class_mix_masks`. Defaults to 'image'.
        classmix_draw_ignore (bool): Whether the ignore label is one of the
            classes ClassMix can draw (see :func:`class_mix_masks`).
            Defaults to False.
        data_preprocessor (dict, optional): Config of the preprocessor.
        init_cfg (dict, optional): Initialisation config.
    """

    knob_ranges = {
        'alpha': '[0, 1)',
        'pseudo_threshold': '[0, 1]',
        'mix_loss_weight': '[0, inf)',
        **{f'mix_augment.{k}': v
           for k, v in PhotometricAugment.knob_ranges.items()},
    }

    def __init__(self,
                 segmentor: ConfigType,
                 alpha: float = 0.99,
                 pseudo_threshold: float = 0.968,
                 mix_loss_weight: float = 1.0,
                 mix_augment: Optional[dict] = dict(),
                 mix_classes: str = 'image',
                 classmix_draw_ignore: bool = False,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(segmentor, data_preprocessor, init_cfg)
        if not 0 <= pseudo_threshold <= 1:
            raise ValueError(f'{type(self).__name__}: pseudo_threshold must '
                             f'be in [0, 1], got {pseudo_threshold}')
        if mix_classes not in ('image', 'batch'):
            raise ValueError(f"{type(self).__name__}: mix_classes must be "
                             f"'image' or 'batch', got {mix_classes!r}")
        self.pseudo_threshold = float(pseudo_threshold)
        self.mix_loss_weight = float(mix_loss_weight)
        self.mix_classes = mix_classes
        self.classmix_draw_ignore = bool(classmix_draw_ignore)
        self.teacher = EMATeacher(self.segmentor, alpha)
        self.mix_augment = self.build_augment(mix_augment, 'mix_augment')

    def build_augment(self, cfg: Optional[dict],
                      name: str) -> Optional[PhotometricAugment]:
        """A :class:`PhotometricAugment` with the preprocessor's
        normalisation (None: no augmentation)."""
        if cfg is None:
            return None
        mean = getattr(self.data_preprocessor, 'mean', None)
        std = getattr(self.data_preprocessor, 'std', None)
        if mean is None or std is None:
            raise ValueError(f'{type(self).__name__}: {name} needs a data '
                             'preprocessor with mean and std')
        return PhotometricAugment(mean.flatten().tolist(),
                                  std.flatten().tolist(), **cfg)

    @torch.no_grad()
    def pseudo_labels(self, target_inputs: Tensor):
        """Teacher arg-max labels and DACS's scalar pseudo-label weight.

        Returns:
            tuple[Tensor, Tensor]: Labels (N, H, W), long, and the weight,
            a scalar tensor: the fraction of pixels with confidence >=
            ``pseudo_threshold`` over the whole batch.
        """
        # float32 confidences under mixed precision (the threshold is
        # 0.968: a bfloat16 probability has steps of 0.004 there)
        probs = full_res_logits(self.teacher.model,
                                target_inputs).float().softmax(1)
        conf, labels = probs.max(dim=1)
        weight = (conf >= self.pseudo_threshold).float().mean()
        return labels, weight

    def valid_pseudo_region(self, labels: Tensor) -> Optional[Tensor]:
        """Where pseudo-labels may be trained on, (N, H, W) bool, or None
        (everywhere, as DACS)."""
        return None

    def source_loss(self, inputs: Tensor, data_samples: SampleList):
        """The wrapped segmentor's supervised loss on the source batch, as
        its own ``loss`` computes it, and the features it was computed on.

        Returns:
            tuple[dict, list[Tensor]]: Losses (``decode.*``, ``aux.*``) and
            ``extract_feat``'s output.
        """
        seg = self.segmentor
        feats = seg.extract_feat(inputs)
        losses = seg._decode_head_forward_train(feats, data_samples)
        if seg.with_auxiliary_head:
            losses.update(seg._auxiliary_head_forward_train(
                feats, data_samples))
        return losses, feats

    def mixed_loss(self, inputs: Tensor, data_samples: SampleList,
                   target_inputs: Tensor, target_data_samples: SampleList,
                   pl_labels: Tensor, pl_weights: Tensor) -> dict:
        """ClassMix of source into target and the pixel-weighted
        cross-entropy of the mixed batch (``mix.loss_ce``); records the
        teacher's labels where they enter it (diagnostics)."""
        src_labels = torch.stack(
            [s.gt_sem_seg.data[0] for s in data_samples]).long()
        masks = class_mix_masks(src_labels, candidates=self.mix_classes,
                                draw_ignore=self.classmix_draw_ignore)
        valid = self.valid_pseudo_region(pl_labels)
        unused = masks if valid is None else masks | ~valid
        self.record_pseudo_labels(pl_labels.masked_fill(unused, 255),
                                  target_data_samples)
        mixed = mix(masks, inputs, target_inputs)
        if self.mix_augment is not None:
            mixed = self.mix_augment(mixed)
        mixed_labels = mix(masks, src_labels, pl_labels)
        weights = torch.where(masks, torch.ones_like(pl_weights), pl_weights)
        logits = full_res_logits(self.segmentor, mixed)
        return {'mix.loss_ce': self.mix_loss_weight * pixel_weighted_ce(
            logits, mixed_labels, weights)}

    def target_terms(self, inputs: Tensor, data_samples: SampleList,
                     target_inputs: Tensor, target_data_samples: SampleList,
                     pl_labels: Tensor, pl_weights: Tensor) -> dict:
        """The target-side terms given the step's pseudo-labels and their
        per-pixel weights (DACS: the mixed loss)."""
        return self.mixed_loss(inputs, data_samples, target_inputs,
                               target_data_samples, pl_labels, pl_weights)

    def loss(self,
             inputs: Tensor,
             data_samples: SampleList,
             target_inputs: Optional[Tensor] = None,
             target_data_samples: Optional[SampleList] = None) -> dict:
        """Source cross-entropy plus the ClassMix loss. Call once per
        training step: it updates the teacher first.

        Returns:
            dict[str, Tensor]: ``decode.*`` (source), ``mix.loss_ce`` and
            ``mix.pseudo_weight``.
        """
        self.teacher.update(self.segmentor)
        losses, _ = self.source_loss(inputs, data_samples)
        if target_inputs is None:
            return losses
        if target_inputs.shape != inputs.shape:
            raise ValueError(f'{type(self).__name__}: ClassMix needs source '
                             'and target batches of one shape, got '
                             f'{tuple(inputs.shape)} and '
                             f'{tuple(target_inputs.shape)}')
        pl_labels, pl_weight = self.pseudo_labels(target_inputs)
        pl_weights = pl_weight.expand(pl_labels.shape).clone()
        valid = self.valid_pseudo_region(pl_labels)
        if valid is not None:
            pl_weights = pl_weights * valid
        losses.update(self.target_terms(inputs, data_samples, target_inputs,
                                        target_data_samples, pl_labels,
                                        pl_weights))
        losses['mix.pseudo_weight'] = pl_weight
        return losses
