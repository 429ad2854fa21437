"""Pseudo-label selection shared by the self-training methods (pure
self-training, CBST, DACS, CLST)."""
import math
from typing import List, Optional, Sequence, Tuple

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


#: Class-threshold policies of CBST's released code (``--kc-policy``).
KC_POLICIES = ('class_balanced', 'global')


def subsampled_confidences(conf: Tensor,
                           labels: Tensor,
                           num_classes: int,
                           ds_rate: int = 1) -> List[Tensor]:
    """Per-class confidence samples of one prediction map, as CBST's
    released code gathers them before :func:`portion_thresholds`: for each
    class, the confidences of the pixels predicted as that class, in raster
    order, keeping every ``ds_rate``-th one (``conf[labels == c][::ds_rate]``;
    yzou2/CRST ``crst_seg.py`` ``val``, ``--ds-rate``, 4 by default).

    Args:
        conf (Tensor): Top probability per pixel, (H, W).
        labels (Tensor): Arg-max class per pixel, (H, W).
        num_classes (int): Number of classes.
        ds_rate (int): Keep every this many pixels of each class.

    Returns:
        list[Tensor]: ``num_classes`` 1-D float32 tensors (on the CPU).
    """
    if ds_rate < 1:
        raise ValueError(f'ds_rate must be >= 1, got {ds_rate}')
    conf = conf.reshape(-1).float().cpu()
    labels = labels.reshape(-1).cpu()
    return [conf[labels == c][::ds_rate].clone() for c in range(num_classes)]


def portion_thresholds(samples: Sequence[Tensor],
                       portion: float,
                       policy: str = 'class_balanced') -> Tensor:
    """CBST's thresholds ``k_c`` from confidence samples of the whole target
    set (yzou2/CRST ``crst_seg.py`` ``kc_parameters``; yzou2/CBST
    ``issegm/solve_ST.py``, kc generation).

    ``class_balanced``: for each class, the ``n_c`` samples of the pixels
    predicted as that class are sorted in decreasing order and ``k_c`` is the
    one at (1-based) rank ``floor(portion * n_c)``, so that about the most
    confident ``portion`` of every class passes; ``k_c = 1`` where that rank
    is 0 (a class with too few predicted pixels, or none). ``global``: the
    same over the pooled samples of all classes, one ``k`` for every class
    (the CBST paper's "ST").

    Args:
        samples (Sequence[Tensor]): Per class, 1-D confidence samples (see
            :func:`subsampled_confidences`), pooled over the target set.
        portion (float): Fraction to keep, in (0, 1].
        policy (str): 'class_balanced' or 'global'.

    Returns:
        Tensor: ``k_c``, shape (num_classes,), float32.
    """
    if not 0 < portion <= 1:
        raise ValueError(f'portion must be in (0, 1], got {portion}')
    if policy not in KC_POLICIES:
        raise ValueError(f'policy must be one of {KC_POLICIES}, got '
                         f'{policy!r}')

    def kth(values: Tensor) -> float:
        rank = math.floor(values.numel() * portion)
        if rank == 0:
            return 1.0
        # the rank-th largest = the (n - rank + 1)-th smallest
        return float(values.float().kthvalue(values.numel() - rank + 1)[0])

    if policy == 'global':
        pooled = torch.cat([s.reshape(-1).float() for s in samples])
        return torch.full((len(samples), ), kth(pooled))
    return torch.tensor([kth(s.reshape(-1)) for s in samples],
                        dtype=torch.float32)


def class_normalised_labels(probs: Tensor,
                            thresholds: Tensor,
                            class_dim: int = 0,
                            ignore_index: int = 255) -> Tensor:
    """CBST's pseudo-labels: ``argmax_c p_c / k_c``, kept where that maximum
    ratio is at least 1 (yzou2/CRST ``crst_seg.py`` ``label_selection``;
    yzou2/CBST ``issegm/solve_ST.py``). Dividing by ``k_c`` moves pixels
    toward classes with low thresholds (the rare, unconfident ones): a pixel
    whose raw arg-max is class A is labelled B when ``p_B / k_B > p_A /
    k_A``.

    Args:
        probs (Tensor): Class probabilities, e.g. (C, H, W) or (N, C, H, W).
        thresholds (Tensor): ``k_c``, shape (C,), all > 0.
        class_dim (int): The class axis of ``probs``. Defaults to 0.
        ignore_index (int): Label of unselected pixels. Defaults to 255.

    Returns:
        Tensor: Labels, long, the shape of ``probs`` without the class axis.
    """
    shape = [1] * probs.dim()
    shape[class_dim] = -1
    ratio = probs.float() / thresholds.to(probs.device).float().view(shape)
    best, labels = ratio.max(dim=class_dim)
    return labels.masked_fill(best < 1, ignore_index)
