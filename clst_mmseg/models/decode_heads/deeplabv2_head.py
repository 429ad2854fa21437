"""DeepLabV2's ASPP classifier, as used by AdaptSegNet, ADVENT, DACS and
CLST."""
from typing import List, Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLabV2 ASPP classifier: parallel dilated 3x3 convolutions from the
    backbone feature straight to class logits, summed.

    This is AdaptSegNet's ``Classifier_Module``: no BN, no ReLU, no dropout,
    ``bias=True``; weights are drawn from N(0, 0.01^2) at construction as in
    the reference, biases keep PyTorch's default initialisation. ``init_cfg``
    defaults to None so that ``init_weights`` keeps that initialisation; pass
    one to override it.

    ``branch_mode`` says which branches are summed. ``'sum_all'`` sums every
    branch, as DeepLab-v2 and ADVENT's ``ClassifierModule`` do.
    ``'first_two'`` reproduces the reference ``Classifier_Module.forward`` of
    AdaptSegNet (``model/deeplab_multi.py``) and DACS (``model/deeplabv2.py``),
    whose ``return`` sits inside the summation loop: only the first two
    branches (dilations 6 and 12 with the default ``dilations``) reach the
    output. The remaining branches would get no gradient (DDP would stop on
    them), so they are not built; the output is identical.

    Unlike most mmseg heads there is no ``channels``-wide intermediate layer
    and no ``conv_seg``: ``channels`` is accepted so that the usual mmseg head
    config keys work, but it is unused, and ``conv_seg`` / ``dropout`` are
    removed so that DDP sees no unused parameters (``dropout_ratio`` is
    ignored for the same reason). Loss, ``in_index``,
    ``input_transform`` ('resize_concat'), ``align_corners`` and the sampler
    come from :class:`BaseDecodeHead`.

    Args:
        dilations (Sequence[int]): Dilation (= padding) of each branch.
            Defaults to (6, 12, 18, 24).
        branch_mode (str): ``'sum_all'`` or ``'first_two'`` (see above).
            Defaults to 'sum_all'.
        channels (int, optional): Unused (see above). Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None (reference initialisation, see above).
        **kwargs: The arguments of :class:`BaseDecodeHead` (``in_channels``,
            ``num_classes``, ``in_index``, ``loss_decode``, ...).
    """

    BRANCH_MODES = ('sum_all', 'first_two')

    def __init__(self,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 branch_mode: str = 'sum_all',
                 channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if kwargs.get('input_transform') == 'multiple_select':
            raise ValueError("DeepLabV2Head: input_transform='multiple_select'"
                             ' is not supported (the ASPP needs one feature '
                             "map); use None or 'resize_concat'")
        if not dilations:
            raise ValueError('DeepLabV2Head: dilations must be a non-empty '
                             f'sequence of ints, got {dilations!r}')
        if branch_mode not in self.BRANCH_MODES:
            raise ValueError(f'DeepLabV2Head: branch_mode must be one of '
                             f'{self.BRANCH_MODES}, got {branch_mode!r}')
        if branch_mode == 'first_two' and len(dilations) < 2:
            raise ValueError("DeepLabV2Head: branch_mode='first_two' needs at "
                             f'least two dilations, got {dilations!r}')
        # there is no dropout in the reference classifier
        kwargs.pop('dropout_ratio', None)
        # BaseDecodeHead needs some `channels` to build conv_seg, which is
        # deleted below.
        super().__init__(channels=channels or 1,
                         init_cfg=init_cfg,
                         dropout_ratio=0,
                         **kwargs)
        del self.conv_seg
        self.branch_mode = branch_mode
        self.dilations = tuple(
            dilations[:2] if branch_mode == 'first_two' else dilations)
        self.aspp = nn.ModuleList(
            nn.Conv2d(self.in_channels,
                      self.out_channels,
                      kernel_size=3,
                      padding=d,
                      dilation=d,
                      bias=True) for d in self.dilations)
        for conv in self.aspp:
            nn.init.normal_(conv.weight, mean=0.0, std=0.01)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Compute the logits.

        Args:
            inputs (list[Tensor]): Multi-level backbone features.

        Returns:
            Tensor: Logits of shape (N, num_classes, H, W) at the resolution
            of the selected feature.
        """
        x = self._transform_inputs(inputs)
        out = self.aspp[0](x)
        for conv in self.aspp[1:]:
            out = out + conv(x)
        return out

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Not used: the ASPP branches are the classifier."""
        raise NotImplementedError(
            'DeepLabV2Head has no conv_seg; its forward() returns logits')
