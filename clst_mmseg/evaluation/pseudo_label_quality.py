"""Quality of pseudo-labels against ground truth (a diagnostic: no method
reads it). Pure functions: the ground truth of a target sample mapped into
the sample's augmented frame, confusion counts, and the scores."""
from typing import Dict, Optional, Sequence

import mmcv
import numpy as np
import torch
from torch import Tensor


def labels_in_aug_frame(gt: np.ndarray, meta: dict) -> np.ndarray:
    """A label map of an image's own frame, put through the geometric
    augmentation its training sample recorded, as the pipeline would have
    done had it loaded the labels: nearest-neighbour resize to the resized
    size (``ori_shape`` times ``scale_factor``), the crop box
    (``crop_bbox``), then the flip (``flip``, ``flip_direction``).

    Args:
        gt (np.ndarray): (H0, W0) labels in the image's own frame.
        meta (dict): The sample's meta information.

    Returns:
        np.ndarray: Labels of shape ``meta['img_shape']``.
    """
    h0, w0 = gt.shape[:2]
    sf = meta.get('scale_factor') or (1.0, 1.0)
    if not isinstance(sf, (tuple, list)):
        sf = (float(sf), float(sf))
    new_w, new_h = int(round(w0 * sf[0])), int(round(h0 * sf[1]))
    if (new_h, new_w) != (h0, w0):
        gt = mmcv.imresize(gt, (new_w, new_h), interpolation='nearest')
    box = meta.get('crop_bbox')
    if box:
        y1, y2, x1, x2 = (int(v) for v in box)
        gt = gt[y1:y2, x1:x2]
    if meta.get('flip'):
        gt = mmcv.imflip(gt, direction=meta['flip_direction'])
    shape = tuple(int(v) for v in meta['img_shape'][:2])
    if gt.shape[:2] != shape:
        raise ValueError(
            f'ground truth mapped to a {gt.shape[:2]} frame, the sample is '
            f'{shape}: the target pipeline applies a geometric transform '
            'that is not recorded (only resize, RecordedRandomCrop and flip '
            'are)')
    return np.ascontiguousarray(gt)


def confusion_counts(pseudo: Tensor,
                     gt: Tensor,
                     num_classes: int,
                     ignore_index: int = 255) -> Tensor:
    """Pixel counts of (pseudo-label, ground truth) pairs.

    Args:
        pseudo (Tensor): Pseudo-labels, any shape, ``ignore_index`` = none.
        gt (Tensor): Ground truth, same shape, ``ignore_index`` = unknown.
        num_classes (int): C.
        ignore_index (int): Defaults to 255.

    Returns:
        Tensor: (C + 1, C + 1) long; row = pseudo-label (row C: none),
        column = ground truth (column C: ignored).
    """
    c = num_classes

    def index(x: Tensor, what: str) -> Tensor:
        x = x.reshape(-1).long().cpu()
        bad = (x != ignore_index) & ((x < 0) | (x >= c))
        if bool(bad.any()):
            raise ValueError(f'{what} holds values outside [0, {c}) and '
                             f'{ignore_index}: {sorted(set(x[bad].tolist()))}')
        return torch.where(x == ignore_index, torch.full_like(x, c), x)

    p, g = index(pseudo, 'pseudo-labels'), index(gt, 'ground truth')
    return torch.bincount(p * (c + 1) + g,
                          minlength=(c + 1)**2).view(c + 1, c + 1)


def pseudo_label_scores(counts: Tensor,
                        class_names: Optional[Sequence[str]] = None
                        ) -> Dict[str, float]:
    """Coverage, precision and recall from :func:`confusion_counts`.

    - ``coverage``: pixels with a pseudo-label / all pixels (needs no
      ground truth);
    - ``precision``: correct / labelled pixels whose ground truth is known;
    - ``recall``: correct / pixels whose ground truth is known;
    - ``precision.<class>``: correct / pixels labelled as the class (known
      ground truth); ``recall.<class>``: correct / ground-truth pixels of the
      class. A score whose denominator is 0 is left out.

    Args:
        counts (Tensor): (C + 1, C + 1) counts.
        class_names (Sequence[str], optional): Names for the per-class
            scores; None leaves them out.

    Returns:
        dict[str, float]: Scores in [0, 1].
    """
    c = counts.shape[0] - 1
    m = counts.double()
    known = m[:, :c]  # columns with a known ground truth
    out = {}
    total = float(m.sum())
    if total > 0:
        out['coverage'] = float(m[:c].sum()) / total
    correct = float(known[:c].diagonal().sum())
    if float(known[:c].sum()) > 0:
        out['precision'] = correct / float(known[:c].sum())
    if float(known.sum()) > 0:
        out['recall'] = correct / float(known.sum())
    if class_names is not None:
        if len(class_names) != c:
            raise ValueError(f'{len(class_names)} class names for {c} '
                             'classes')
        for k, name in enumerate(class_names):
            if float(known[k].sum()) > 0:
                out[f'precision.{name}'] = float(known[k, k] /
                                                 known[k].sum())
            if float(known[:, k].sum()) > 0:
                out[f'recall.{name}'] = float(known[k, k] /
                                              known[:, k].sum())
    return out
