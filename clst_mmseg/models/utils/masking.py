"""MIC's random block masking (Hoyer et al., CVPR 2023; lhoyer/MIC
``seg/mmseg/models/utils/masking_transforms.py``, ``BlockMaskGenerator``)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def block_mask(n: int, height: int, width: int, ratio: float,
               block_size: int,
               generator: Optional[torch.Generator] = None) -> Tensor:
    """Keep-masks of square blocks: each block of ``block_size`` pixels is
    dropped with probability ``ratio``.

    As the release: a grid of ``round(H / b) x round(W / b)`` uniform draws,
    a block kept where its draw exceeds ``ratio``, the grid resized to
    ``H x W`` by nearest neighbour. Draws on the CPU (torch's global
    generator unless one is given, so ``RNGStateHook`` restores them).

    Args:
        n (int): Batch size.
        height (int): Image height.
        width (int): Image width.
        ratio (float): Probability of dropping a block, in [0, 1].
        block_size (int): Block side in pixels (>= 1).
        generator (torch.Generator, optional): Random generator.

    Returns:
        Tensor: (N, 1, H, W) float, 1 where the image is kept.
    """
    if not 0 <= ratio <= 1:
        raise ValueError(f'block_mask: ratio must be in [0, 1], got {ratio}')
    if block_size < 1:
        raise ValueError(f'block_mask: block_size must be >= 1, got '
                         f'{block_size}')
    grid = (n, 1, max(1, round(height / block_size)),
            max(1, round(width / block_size)))
    keep = (torch.rand(grid, generator=generator) > ratio).float()
    return F.interpolate(keep, size=(height, width), mode='nearest')


def mask_image(inputs: Tensor, ratio: float, block_size: int) -> Tensor:
    """The batch with random blocks set to 0 (in the normalised space, i.e.
    the normalisation mean), as MIC's ``mask_image``.

    Args:
        inputs (Tensor): (N, C, H, W) normalised images.
        ratio (float): Share of blocks dropped.
        block_size (int): Block side in pixels.

    Returns:
        Tensor: The masked batch.
    """
    n, _, h, w = inputs.shape
    keep = block_mask(n, h, w, ratio, block_size).to(inputs)
    return inputs * keep
