"""GAN losses of the output-space adversarial methods (AdaptSegNet, ADVENT),
with the domain label convention made explicit.

Convention (that of both reference implementations): the discriminator is
trained to output ``source_label`` (0) on source maps and ``target_label``
(1) on target maps; the segmentor is trained to make the discriminator
output ``source_label`` on target maps ("fool" it).
"""
import torch
import torch.nn.functional as F
from torch import Tensor

SOURCE_LABEL = 0.0
TARGET_LABEL = 1.0
GAN_MODES = ('vanilla', 'lsgan')


def gan_loss(logits: Tensor, label: float, gan_mode: str = 'vanilla') -> Tensor:
    """Mean GAN loss of discriminator outputs against a constant label.

    Args:
        logits (Tensor): Discriminator outputs (logits), any shape.
        label (float): Target value for every output (a domain label).
        gan_mode (str): ``'vanilla'``: binary cross-entropy with logits
            (AdaptSegNet ``--gan Vanilla``, ADVENT); ``'lsgan'``: mean
            squared error on the raw outputs (AdaptSegNet ``--gan LS``).

    Returns:
        Tensor: Scalar loss.
    """
    target = torch.full_like(logits, float(label))
    if gan_mode == 'vanilla':
        return F.binary_cross_entropy_with_logits(logits, target)
    if gan_mode == 'lsgan':
        return F.mse_loss(logits, target)
    raise ValueError(f'gan_mode: expected one of {GAN_MODES}, got '
                     f'{gan_mode!r}')


class AdversarialLoss:
    """The two sides of the adversarial game for one label convention.

    Args:
        gan_mode (str): ``'vanilla'`` or ``'lsgan'`` (see :func:`gan_loss`).
        source_label (float): Label of source maps. Defaults to 0.
        target_label (float): Label of target maps. Defaults to 1.
    """

    def __init__(self,
                 gan_mode: str = 'vanilla',
                 source_label: float = SOURCE_LABEL,
                 target_label: float = TARGET_LABEL) -> None:
        if gan_mode not in GAN_MODES:
            raise ValueError(f'gan_mode: expected one of {GAN_MODES}, got '
                             f'{gan_mode!r}')
        if source_label == target_label:
            raise ValueError('source_label and target_label must differ, '
                             f'both are {source_label!r}')
        if gan_mode == 'vanilla' and not (0 <= source_label <= 1
                                          and 0 <= target_label <= 1):
            raise ValueError('source_label/target_label: the vanilla GAN '
                             'loss (binary cross-entropy) needs labels in '
                             f'[0, 1], got {source_label!r}/{target_label!r}')
        self.gan_mode = gan_mode
        self.source_label = float(source_label)
        self.target_label = float(target_label)

    def generator(self, target_logits: Tensor) -> Tensor:
        """Segmentor side: push the discriminator's outputs on target maps
        towards the source label.

        Args:
            target_logits (Tensor): Discriminator outputs on target maps.

        Returns:
            Tensor: Scalar loss.
        """
        return gan_loss(target_logits, self.source_label, self.gan_mode)

    def discriminator(self, source_logits: Tensor,
                      target_logits: Tensor) -> Tensor:
        """Discriminator side: source maps -> source label, target maps ->
        target label, each term halved as in the reference code.

        Args:
            source_logits (Tensor): Discriminator outputs on (detached)
                source maps.
            target_logits (Tensor): Discriminator outputs on (detached)
                target maps.

        Returns:
            Tensor: Scalar loss.
        """
        return 0.5 * (
            gan_loss(source_logits, self.source_label, self.gan_mode) +
            gan_loss(target_logits, self.target_label, self.gan_mode))

    def accuracy(self, source_logits: Tensor, target_logits: Tensor) -> Tensor:
        """Fraction of discriminator outputs on the correct side of the
        midpoint between the two labels (vanilla: compared as probabilities),
        for logging.

        Args:
            source_logits (Tensor): Discriminator outputs on source maps.
            target_logits (Tensor): Discriminator outputs on target maps.

        Returns:
            Tensor: Scalar in [0, 1].
        """
        src, tgt = source_logits, target_logits
        if self.gan_mode == 'vanilla':
            src, tgt = torch.sigmoid(src), torch.sigmoid(tgt)
        mid = 0.5 * (self.source_label + self.target_label)
        sign = 1.0 if self.target_label > self.source_label else -1.0
        correct_src = (sign * (src - mid) < 0).float().mean()
        correct_tgt = (sign * (tgt - mid) > 0).float().mean()
        return 0.5 * (correct_src + correct_tgt)
