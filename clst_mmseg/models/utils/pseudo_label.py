"""Pseudo-label selection shared by the self-training methods (pure
self-training, DACS, CLST)."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def confidence_threshold(probs: Tensor,
                         threshold: float,
                         ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
    """Arg-max pseudo-labels; pixels whose top probability is below
    ``threshold`` are set to ``ignore_index``.

    Args:
        probs (Tensor): Class probabilities, (N, C, H, W).
        threshold (float): Minimum confidence of a kept pixel.
        ignore_index (int): Label of dropped pixels. Defaults to 255.

    Returns:
        tuple[Tensor, Tensor]: Labels (N, H, W), long, and confidences
        (N, H, W).
    """
    conf, labels = probs.max(dim=1)
    labels = labels.masked_fill(conf < threshold, ignore_index)
    return labels, conf


def class_balanced_thresholds(conf: Tensor,
                              labels: Tensor,
                              num_classes: int,
                              portion: float,
                              max_threshold: Optional[float] = None
                              ) -> Tensor:
    """Per-class confidence thresholds of CBST (Zou et al., ECCV 2018).

    For each class the threshold is the confidence of the pixel ranked
    ``floor(portion * n_c)`` among the ``n_c`` pixels predicted as that class
    (sorted by decreasing confidence), so about the most confident
    ``portion`` of every class is kept, rare classes included. Optionally
    capped at ``max_threshold``. A class nobody predicts gets +inf.

    Args:
        conf (Tensor): Confidence of the predicted class, any shape.
        labels (Tensor): Predicted class, same shape as ``conf``.
        num_classes (int): Number of classes.
        portion (float): Fraction of each class's pixels to keep, in (0, 1].
        max_threshold (float, optional): Upper bound of every threshold.

    Returns:
        Tensor: Thresholds, shape (num_classes,), float.
    """
    if not 0 < portion <= 1:
        raise ValueError(f'portion must be in (0, 1], got {portion}')
    conf = conf.reshape(-1).float()
    labels = labels.reshape(-1)
    thresholds = torch.full((num_classes, ), float('inf'),
                            device=conf.device)
    for c in range(num_classes):
        values = conf[labels == c]
        if values.numel() == 0:
            continue
        values, _ = values.sort(descending=True)
        rank = min(int(portion * values.numel()), values.numel() - 1)
        thresholds[c] = values[rank]
    if max_threshold is not None:
        thresholds = thresholds.clamp(max=max_threshold)
    return thresholds


def class_balanced(probs: Tensor,
                   portion: float,
                   max_threshold: Optional[float] = None,
                   ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
    """Arg-max pseudo-labels kept by the class-balanced thresholds of
    :func:`class_balanced_thresholds`, computed over the given batch.

    Args:
        probs (Tensor): Class probabilities, (N, C, H, W).
        portion (float): Fraction of each class's pixels to keep.
        max_threshold (float, optional): Cap of the per-class thresholds.
        ignore_index (int): Label of dropped pixels. Defaults to 255.

    Returns:
        tuple[Tensor, Tensor]: Labels (N, H, W) and confidences (N, H, W).
    """
    conf, labels = probs.max(dim=1)
    thresholds = class_balanced_thresholds(conf, labels, probs.shape[1],
                                           portion, max_threshold)
    keep = conf >= thresholds[labels]
    return labels.masked_fill(~keep, ignore_index), conf
