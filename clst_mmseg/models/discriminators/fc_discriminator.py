"""The fully-convolutional discriminator of AdaptSegNet and ADVENT."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS


@MODELS.register_module()
class FCDiscriminator(BaseModule):
    """Fully-convolutional discriminator on (C, H, W) class maps.

    The ``FCDiscriminator`` of AdaptSegNet (Tsai et al., CVPR 2018), which
    ADVENT (Vu et al., CVPR 2019) reuses: ``len(channels)`` 4x4 convolutions
    with stride 2 and padding 1, each followed by LeakyReLU, and a 4x4
    stride-2 convolution to one logit per location (no sigmoid: the losses
    take logits). The output is 1/32 of the input size for the default four
    hidden layers. Weights keep PyTorch's default initialisation, as in both
    reference implementations.

    Args:
        in_channels (int): Channels of the input map (the number of classes).
        channels (Sequence[int]): Widths of the hidden convolutions.
            Defaults to (64, 128, 256, 512).
        negative_slope (float): Slope of the LeakyReLU. Defaults to 0.2.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    knob_ranges = {
        'channels.*': 'int [1, inf)',
        'negative_slope': '[0, inf)',
    }

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int] = (64, 128, 256, 512),
                 negative_slope: float = 0.2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError('FCDiscriminator: in_channels must be a positive '
                             f'int, got {in_channels!r}')
        if not channels or not all(
                isinstance(c, int) and c > 0 for c in channels):
            raise ValueError('FCDiscriminator: channels must be a non-empty '
                             f'sequence of positive ints, got {channels!r}')
        layers = []
        prev = in_channels
        for width in channels:
            layers += [
                nn.Conv2d(prev, width, kernel_size=4, stride=2, padding=1),
                nn.LeakyReLU(negative_slope)
            ]
            prev = width
        layers.append(nn.Conv2d(prev, 1, kernel_size=4, stride=2, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Domain logits.

        Args:
            x (Tensor): Class maps, (N, in_channels, H, W).

        Returns:
            Tensor: Logits, (N, 1, H', W'), ``H' = H / 2**(len(channels)+1)``.
        """
        return self.layers(x)
