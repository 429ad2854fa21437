"""Pixel-wise projection head for feature-level contrastive losses."""
from typing import Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS


@MODELS.register_module()
class ProjectionHead(BaseModule):
    """1x1-convolution MLP that maps one level of the backbone features to
    an embedding per pixel (SimCLR-style projection, applied densely).

    Args:
        in_channels (int): Channels of the selected feature level.
        channels (int): Hidden width. Defaults to 256.
        out_channels (int): Embedding size. Defaults to 128.
        in_index (int): Which element of ``extract_feat``'s output to use
            (the level of the backbone/neck). Defaults to -1 (the last).
        num_convs (int): Number of 1x1 layers (>= 1); every layer but the
            last is followed by ``norm_cfg`` and ReLU. Defaults to 2.
        norm_cfg (dict, optional): Normalisation of the hidden layers.
            Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    knob_ranges = {
        'in_channels': 'int [1, inf) or None',
        'channels': 'int [1, inf)',
        'out_channels': 'int [1, inf)',
        'num_convs': 'int [1, inf)',
    }

    def __init__(self,
                 in_channels: int,
                 channels: int = 256,
                 out_channels: int = 128,
                 in_index: int = -1,
                 num_convs: int = 2,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Kaiming', layer='Conv2d')) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_convs < 1:
            raise ValueError('ProjectionHead: num_convs must be >= 1, got '
                             f'{num_convs}')
        self.in_channels = in_channels
        self.in_index = in_index
        layers = []
        width = in_channels
        for _ in range(num_convs - 1):
            layers.append(
                ConvModule(width, channels, 1, norm_cfg=norm_cfg,
                           act_cfg=dict(type='ReLU')))
            width = channels
        layers.append(nn.Conv2d(width, out_channels, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Embed the selected feature level.

        Args:
            feats (Tensor | Sequence[Tensor]): One feature map or the
                multi-level output of ``extract_feat``.

        Returns:
            Tensor: (N, out_channels, H, W), not normalised.
        """
        x = feats if isinstance(feats, Tensor) else feats[self.in_index]
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'ProjectionHead: feature level {self.in_index} has '
                f'{x.shape[1]} channels, in_channels is {self.in_channels}')
        return self.layers(x)
