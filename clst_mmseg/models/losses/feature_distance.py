"""DAFormer's thing-class ImageNet feature distance (Hoyer et al., CVPR 2022):
the source features of the student's encoder are pulled towards those of a
frozen copy of the ImageNet-initialised encoder, on the cells of thing
classes only (lhoyer/DAFormer ``mmseg/models/uda/dacs.py``
``calc_feat_dist``, ``masked_feat_dist``; ``mmseg/utils/utils.py``
``downscale_label_ratio``)."""
import copy
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: init_cfg types that load pretrained weights.
_PRETRAINED_INITS = ('Pretrained', 'PretrainedIfAvailable')


def downscale_label_ratio(labels: Tensor, scale: int, min_ratio: float,
                          num_classes: int,
                          ignore_index: int = 255) -> Tensor:
    """Labels of ``scale x scale`` cells: the majority class of each cell,
    or ``ignore_index`` where it covers less than ``min_ratio`` of the cell
    (ignored pixels count as a class of their own, so a mostly-ignored cell
    is ignored).

    Args:
        labels (Tensor): (N, H, W) integer labels.
        scale (int): Cell side in pixels (> 1); H and W must be multiples.
        min_ratio (float): Smallest share of the majority class.
        num_classes (int): Number of classes.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.

    Returns:
        Tensor: (N, H / scale, W / scale), long.
    """
    if scale <= 1:
        raise ValueError(f'downscale_label_ratio: scale must be > 1, got '
                         f'{scale}')
    n, h, w = labels.shape
    if h % scale or w % scale:
        raise ValueError(f'downscale_label_ratio: labels of {h}x{w} are not '
                         f'a whole number of {scale}x{scale} cells')
    x = labels.long().masked_fill(labels == ignore_index, num_classes)
    onehot = F.one_hot(x, num_classes + 1).permute(0, 3, 1, 2).float()
    share, out = F.avg_pool2d(onehot, scale).max(dim=1)
    out[out == num_classes] = ignore_index
    out[share < min_ratio] = ignore_index
    return out


def masked_feature_distance(feat: Tensor, ref: Tensor,
                            mask: Optional[Tensor] = None) -> Tensor:
    """Mean over the cells of ``mask`` of the L2 distance (over channels)
    between two feature maps; 0 (with a gradient path) when the mask is
    empty (the release's mean of nothing is NaN).

    Args:
        feat (Tensor): (N, C, h, w).
        ref (Tensor): (N, C, h, w).
        mask (Tensor, optional): (N, h, w) bool; None: every cell.

    Returns:
        Tensor: Scalar.
    """
    dist = torch.norm(feat - ref, dim=1, p=2)
    if mask is None:
        return dist.mean()
    if not mask.any():
        return dist.sum() * 0.
    return dist[mask].mean()


def has_pretrained_init(module: nn.Module) -> bool:
    """Whether a module's ``init_cfg`` loads pretrained weights."""
    cfg = getattr(module, 'init_cfg', None)
    cfgs = cfg if isinstance(cfg, (list, tuple)) else [cfg]
    return any(isinstance(c, dict) and c.get('type') in _PRETRAINED_INITS
               for c in cfgs)


class ImageNetFeatureDistance(nn.Module):
    """The feature distance term with its frozen encoder.

    The encoder (backbone, and neck if the segmentor has one) is a copy of
    the student's made before any weight is loaded; :meth:`init_weights`
    loads its own ``init_cfg``, i.e. the same pretrained (ImageNet) weights
    as the student, and it is never trained (no gradient, always in eval
    mode). It is saved in checkpoints like any submodule.

    Args:
        segmentor (EncoderDecoder): The student, not yet initialised.
        classes (Sequence[int]): Classes whose cells enter the distance
            (DAFormer: the thing classes 6, 7, 11-18); None: every cell.
        weight (float): lambda of the term (DAFormer: 0.005).
        min_ratio (float): ``downscale_label_ratio``'s share of the majority
            class (DAFormer: 0.75).
        num_classes (int): Number of classes.
        level (int): Which ``extract_feat`` output (DAFormer: -1, the last
            encoder stage).
        ignore_index (int): Defaults to 255.
    """

    def __init__(self, segmentor: nn.Module, classes: Optional[Sequence[int]],
                 weight: float, min_ratio: float, num_classes: int,
                 level: int = -1, ignore_index: int = 255):
        super().__init__()
        if not has_pretrained_init(segmentor.backbone):
            raise ValueError(
                'the ImageNet feature distance needs a pretrained backbone '
                '(model.segmentor.backbone.init_cfg of type Pretrained or '
                'PretrainedIfAvailable); set fd_weight=0 on a task without '
                'one')
        if classes is not None:
            bad = [c for c in classes if not 0 <= c < num_classes]
            if bad:
                raise ValueError(f'fd_classes {bad} are not classes of the '
                                 f'{num_classes}-class task')
        if not 0 <= min_ratio <= 1:
            raise ValueError(f'fd_min_ratio must be in [0, 1], got '
                             f'{min_ratio}')
        self.backbone = copy.deepcopy(segmentor.backbone)
        self.neck = (copy.deepcopy(segmentor.neck)
                     if getattr(segmentor, 'with_neck', False) else None)
        self.requires_grad_(False)
        self.eval()
        self.register_buffer(
            'classes', torch.tensor(list(classes) if classes is not None
                                    else [], dtype=torch.long),
            persistent=False)
        self.all_cells = classes is None
        self.weight = float(weight)
        self.min_ratio = float(min_ratio)
        self.num_classes = int(num_classes)
        self.level = int(level)
        self.ignore_index = int(ignore_index)

    def train(self, mode: bool = True) -> 'ImageNetFeatureDistance':
        super().train(mode)
        return super().train(False)

    def init_weights(self) -> None:
        """Load the encoder's pretrained weights (its own ``init_cfg``)."""
        self.backbone.init_weights()
        if self.neck is not None:
            self.neck.init_weights()

    @torch.no_grad()
    def reference_features(self, inputs: Tensor) -> Tensor:
        feats = self.backbone(inputs)
        if self.neck is not None:
            feats = self.neck(feats)
        return feats[self.level].detach()

    def forward(self, inputs: Tensor, feats: Sequence[Tensor],
                labels: Tensor) -> Dict[str, Tensor]:
        """The weighted feature distance of a source batch.

        Args:
            inputs (Tensor): Source images, (N, 3, H, W).
            feats (Sequence[Tensor]): The student's ``extract_feat`` output
                on them (with gradient).
            labels (Tensor): Source labels, (N, H, W).

        Returns:
            dict[str, Tensor]: ``fd.loss`` (weighted) and ``fd.cells`` (the
            share of feature cells in the distance).
        """
        feat = feats[self.level]
        ref = self.reference_features(inputs)
        mask = None
        if not self.all_cells:
            scale = labels.shape[-1] // feat.shape[-1]
            cells = downscale_label_ratio(labels, scale, self.min_ratio,
                                          self.num_classes, self.ignore_index)
            mask = torch.isin(cells, self.classes.to(cells.device))
        dist = masked_feature_distance(feat, ref.to(feat.dtype), mask)
        share = (feat.new_ones(()) if mask is None else
                 mask.float().mean())
        return {'fd.loss': self.weight * dist, 'fd.cells': share}
