"""ADVENT (Vu et al., "ADVENT: Adversarial Entropy Minimization for Domain
Adaptation in Semantic Segmentation", CVPR 2019): MinEnt (direct entropy
minimisation on the target) and AdvEnt (adversarial training on weighted
self-information maps)."""
import math
from typing import Dict, Optional

import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor

from .adaptsegnet import AdaptSegNet


def self_information(logits: Tensor) -> Tensor:
    """ADVENT's weighted self-information map ``-p * log2(p) / log2(C)``.

    Summed over the classes it is the entropy normalised to [0, 1]. Computed
    from log-softmax, so it is finite for saturated predictions (the
    reference adds 1e-30 inside the log instead).

    Args:
        logits (Tensor): (N, C, H, W).

    Returns:
        Tensor: (N, C, H, W), each element in [0, 1/(e ln C)].
    """
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError('self_information: needs at least 2 classes, got '
                         f'{num_classes}')
    log_p = F.log_softmax(logits, dim=1)
    return -log_p.exp() * log_p / math.log(num_classes)


def entropy_loss(logits: Tensor) -> Tensor:
    """MinEnt loss: the normalised entropy averaged over pixels (ADVENT's
    ``entropy_loss``).

    Args:
        logits (Tensor): (N, C, H, W).

    Returns:
        Tensor: Scalar in [0, 1].
    """
    return self_information(logits).sum(dim=1).mean()


@MODELS.register_module()
class ADVENT(AdaptSegNet):
    """MinEnt, AdvEnt, or both in one objective.

    Built on :class:`AdaptSegNet`'s step (source cross-entropy per level,
    segmentor update, then discriminator update) with two switches:

    - ``minent``: adds ``lambda_ent[level]`` times the normalised entropy of
      the target prediction (upsampled to the input size) per level.
    - ``advent``: one discriminator per level sees the weighted
      self-information map :func:`self_information` instead of the softmax,
      with AdaptSegNet's label convention and losses.

    With ``advent=False`` no discriminator is built and the optimizer dict
    only needs the segmentor's wrapper.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        minent (bool): Direct entropy minimisation. Defaults to True.
        advent (bool): Adversarial training on self-information maps.
            Defaults to True.
        lambda_ent (dict, optional): Entropy weight per level (required
            with ``minent``).
        lambda_adv (dict, optional): Adversarial weight per level (required
            with ``advent``).
        **kwargs: The other arguments of :class:`AdaptSegNet`
            (``auxiliary_head``, ``discriminator``, ``gan_mode``, labels,
            ``data_preprocessor``, ``init_cfg``).
    """

    knob_ranges = {'lambda_ent.*': '[0, inf)'}

    def __init__(self,
                 segmentor: ConfigType,
                 minent: bool = True,
                 advent: bool = True,
                 lambda_ent: Optional[Dict[str, float]] = None,
                 lambda_adv: Optional[Dict[str, float]] = None,
                 **kwargs):
        if not (minent or advent):
            raise ValueError('model.minent/model.advent: at least one must '
                             'be True (both off is the source-only model)')
        super().__init__(
            segmentor, lambda_adv=lambda_adv if advent else {}, **kwargs)
        if advent and not self.lambda_adv:
            raise ValueError('model.lambda_adv: needs a weight per level '
                             'when advent=True')
        if minent and not lambda_ent:
            raise ValueError('model.lambda_ent: needs a weight per level '
                             'when minent=True, e.g. dict(main=0.001)')
        self.minent = minent
        self.advent = advent
        self.lambda_ent = self._level_weights('lambda_ent', lambda_ent) \
            if minent else {}

    def discriminator_input(self, logits: Tensor) -> Tensor:
        """AdvEnt's discriminator input: the weighted self-information."""
        return self_information(logits)

    def target_losses(self, target_logits: Dict[str, Tensor],
                      target_maps: Dict[str, Tensor]) -> dict:
        """Adversarial terms (AdvEnt) plus the entropy terms (MinEnt):
        ``loss_ent_<level>`` is weighted, ``ent_<level>`` (logged only) is
        the unweighted normalised entropy."""
        losses = super().target_losses(target_logits, target_maps)
        for level, weight in self.lambda_ent.items():
            ent = entropy_loss(target_logits[level])
            losses[f'loss_ent_{level}'] = weight * ent
            losses[f'ent_{level}'] = ent.detach()
        return losses
