"""ClassMix (Olsson et al., WACV 2021) as DACS uses it (Tranheden et al.,
WACV 2021): pixels of half of the classes of a source image are pasted onto
a target image."""
from typing import Optional

import torch
from torch import Tensor


def class_mix_masks(labels: Tensor,
                    ignore_index: int = 255,
                    generator: Optional[torch.Generator] = None,
                    candidates: str = 'image',
                    draw_ignore: bool = False) -> Tensor:
    """Per-image ClassMix masks from source labels.

    For each image, of the ``n`` candidate classes ``ceil(n / 2)`` are drawn
    without replacement, as in DACS's ``(n + n % 2) / 2``; the mask is True
    on every pixel of a drawn class. Candidates: ``'image'``, the classes
    present in the image's label map; ``'batch'``, the values present
    anywhere in the batch's label maps, as DAFormer's ``get_class_masks``
    draws them (lhoyer/DAFormer ``mmseg/models/utils/dacs_transforms.py``:
    ``torch.unique(labels)`` inside the loop over the images), so a drawn
    class may be absent from the image. Both releases keep the ignore index
    among the candidates (DACS's filter ``classes[classes != ignore_label]``
    is commented out in trainUDA.py; DAFormer never filters):
    ``draw_ignore=True`` does the same, so ignored source pixels can be
    pasted (their mixed label stays ignored). Draws from ``generator`` or
    torch's global generator (saved and restored by ``RNGStateHook``).

    Args:
        labels (Tensor): Source labels, (N, H, W) or (N, 1, H, W), integer.
        ignore_index (int): The ignore label. Defaults to 255.
        generator (torch.Generator, optional): Random generator.
        candidates (str): ``'image'`` or ``'batch'``. Defaults to 'image'.
        draw_ignore (bool): Whether ``ignore_index`` counts as a class that
            can be drawn. Defaults to False.

    Returns:
        Tensor: Masks, (N, H, W), bool; True where the source is pasted.
    """
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 3:
        raise ValueError('class_mix_masks: labels must be (N, H, W) or '
                         f'(N, 1, H, W), got shape {tuple(labels.shape)}')
    if candidates not in ('image', 'batch'):
        raise ValueError("class_mix_masks: candidates must be 'image' or "
                         f"'batch', got {candidates!r}")
    masks = []
    for label in labels:
        classes = torch.unique(labels if candidates == 'batch' else label)
        if not draw_ignore:
            classes = classes[classes != ignore_index]
        n = classes.numel()
        order = torch.randperm(n, generator=generator)
        chosen = classes[order[:(n + n % 2) // 2].to(classes.device)]
        masks.append(torch.isin(label, chosen))
    return torch.stack(masks)


def mix(masks: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """Source where ``masks`` is True, target elsewhere.

    Args:
        masks (Tensor): (N, H, W), bool.
        source (Tensor): (N, H, W) labels/weights or (N, C, H, W) images.
        target (Tensor): Same shape as ``source``.

    Returns:
        Tensor: The mixed batch, shape of ``source``.
    """
    if source.shape != target.shape:
        raise ValueError('mix: source and target shapes differ: '
                         f'{tuple(source.shape)} vs {tuple(target.shape)}')
    m = masks if source.dim() == 3 else masks.unsqueeze(1)
    if m.shape[-2:] != source.shape[-2:] or m.shape[0] != source.shape[0]:
        raise ValueError(f'mix: mask shape {tuple(masks.shape)} does not fit '
                         f'the batch shape {tuple(source.shape)}')
    return torch.where(m, source, target)
