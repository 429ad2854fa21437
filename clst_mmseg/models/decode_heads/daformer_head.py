"""DAFormer's decoder with context-aware feature fusion (Hoyer et al., CVPR
2022), as lhoyer/DAFormer releases it for MiT-B5
(``configs/_base_/models/daformer_sepaspp_mitb5.py``)."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.aspp_head import ASPPModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.decode_heads.sep_aspp_head import \
    DepthwiseSeparableASPPModule
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw, resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType
from torch import Tensor


class LinearEmbedding(nn.Module):
    """A per-pixel linear projection of a feature map (SegFormer's ``MLP``):
    an ``nn.Linear`` over the channels, no norm, no activation.

    Args:
        in_channels (int): Channels of the feature map.
        out_channels (int): Channels of the embedding.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W)."""
        return nlc_to_nchw(self.proj(nchw_to_nlc(x)), x.shape[2:])


class ASPPFusion(nn.Module):
    """The fusion of the concatenated embeddings: parallel ASPP branches
    (conv, norm, activation each; a dilation of 1 is a 1x1 conv), their
    outputs concatenated, then a 3x3 conv (norm, activation) to
    ``channels``. No image-pooling branch.

    Args:
        in_channels (int): Channels of the input.
        channels (int): Channels of every branch and of the output.
        dilations (Sequence[int]): Dilation of each branch.
        separable (bool): Depthwise-separable 3x3 branches
            (:class:`DepthwiseSeparableASPPModule`) instead of plain ones
            (:class:`ASPPModule`).
        conv_cfg (dict, optional): Config of the plain conv layers.
        norm_cfg (dict, optional): Config of the norm layers.
        act_cfg (dict): Config of the activation layers.
    """

    def __init__(self, in_channels: int, channels: int,
                 dilations: Sequence[int], separable: bool,
                 conv_cfg: OptConfigType, norm_cfg: OptConfigType,
                 act_cfg: ConfigType) -> None:
        super().__init__()
        aspp = DepthwiseSeparableASPPModule if separable else ASPPModule
        self.aspp_modules = aspp(dilations=tuple(dilations),
                                 in_channels=in_channels,
                                 channels=channels,
                                 conv_cfg=conv_cfg,
                                 norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        self.bottleneck = ConvModule(len(dilations) * channels,
                                     channels,
                                     kernel_size=3,
                                     padding=1,
                                     conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.bottleneck(torch.cat(self.aspp_modules(x), dim=1))


@MODELS.register_module()
class DAFormerHead(BaseDecodeHead):
    """DAFormer decoder with context-aware feature fusion.

    Every selected backbone level is embedded to ``embed_dims`` channels by
    a per-pixel linear layer (:class:`LinearEmbedding`), resized
    (bilinearly) to the resolution of the first selected level and
    concatenated; :class:`ASPPFusion` fuses them to ``channels``; dropout
    and a 1x1 conv (``cls_seg``) give the logits, at the first level's
    resolution.

    As lhoyer/DAFormer ``mmseg/models/decode_heads/daformer_head.py``
    builds it with ``configs/_base_/models/daformer_sepaspp_mitb5.py``
    (``embed_cfg`` / ``embed_neck_cfg`` ``type='mlp'``, ``fusion_cfg``
    ``type='aspp', sep=True, dilations=(1, 6, 12, 18), pool=False``); the
    sub-modules carry the release's names (``embed_layers.<level>.proj``,
    ``fuse_layer.aspp_modules``, ``fuse_layer.bottleneck``), so the
    release's head tensors load by name.

    The forward returns logits like every mmseg head, so a UDA segmentor can
    compute its own (e.g. per-pixel weighted) loss on them; the
    :class:`BaseDecodeHead` loss (``loss_decode``, resized to the labels)
    serves the supervised terms.

    Args:
        embed_dims (int): Channels of each level's embedding. Defaults to
            256.
        fusion_dilations (Sequence[int]): Dilations of the fusion's ASPP
            branches. Defaults to (1, 6, 12, 18).
        fusion_separable (bool): Depthwise-separable dilated branches.
            Defaults to True.
        **kwargs: The arguments of :class:`BaseDecodeHead` (``in_channels``
            and ``in_index``: sequences, one per level; ``channels``,
            ``num_classes``, ``dropout_ratio``, ``norm_cfg``, ...).
            ``input_transform`` is 'multiple_select'.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 fusion_dilations: Sequence[int] = (1, 6, 12, 18),
                 fusion_separable: bool = True,
                 **kwargs) -> None:
        transform = kwargs.pop('input_transform', 'multiple_select')
        if transform != 'multiple_select':
            raise ValueError("DAFormerHead: input_transform must be "
                             f"'multiple_select', got {transform!r}")
        if not isinstance(kwargs.get('in_index'), (list, tuple)):
            raise ValueError('DAFormerHead: in_index must be a sequence of '
                             'backbone levels, got '
                             f'{kwargs.get("in_index")!r}')
        if kwargs.get('align_corners', False):
            raise ValueError('DAFormerHead: align_corners must be False (as '
                             'in the release)')
        if not fusion_dilations or any(
                int(d) != d or d < 1 for d in fusion_dilations):
            raise ValueError('DAFormerHead: fusion_dilations must be a '
                             'non-empty sequence of ints >= 1, got '
                             f'{fusion_dilations!r}')
        super().__init__(input_transform='multiple_select', **kwargs)
        self.embed_dims = int(embed_dims)
        self.embed_layers = nn.ModuleDict({
            str(i): LinearEmbedding(c, self.embed_dims)
            for i, c in zip(self.in_index, self.in_channels)
        })
        self.fuse_layer = ASPPFusion(
            in_channels=self.embed_dims * len(self.in_index),
            channels=self.channels,
            dilations=fusion_dilations,
            separable=fusion_separable,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Compute the logits.

        Args:
            inputs (list[Tensor]): Multi-level backbone features.

        Returns:
            Tensor: Logits of shape (N, num_classes, H, W) at the resolution
            of the first selected level.
        """
        feats = self._transform_inputs(inputs)
        size = feats[0].shape[2:]
        embedded = []
        for i, feat in zip(self.in_index, feats):
            x = self.embed_layers[str(i)](feat)
            if x.shape[2:] != size:
                x = resize(x, size=size, mode='bilinear',
                           align_corners=self.align_corners)
            embedded.append(x)
        return self.cls_seg(self.fuse_layer(torch.cat(embedded, dim=1)))
