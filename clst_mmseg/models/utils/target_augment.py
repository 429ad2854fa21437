"""Photometric augmentation of normalised target batches (the student's
input in self-training methods: DACS, CLST, pure self-training)."""
import math
from typing import Optional, Sequence

import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor


class PhotometricAugment:
    """Random colour jitter and Gaussian blur of a batch that the data
    preprocessor has already normalised.

    Whether an image is jittered and whether it is blurred is drawn per
    image, or once for the whole batch with ``per_batch=True`` (as DACS's
    trainUDA.py draws ``strong_parameters["ColorJitter"]`` and
    ``["GaussianBlur"]`` once per iteration); the jitter factors and the
    blur sigma are always drawn per image.

    Draws from torch's global generator (seeded by mmengine, saved and
    restored by ``RNGStateHook``).

    Args:
        mean (Sequence[float]): Normalisation mean of the preprocessor.
        std (Sequence[float]): Normalisation std of the preprocessor.
        jitter_prob (float): Probability of colour jitter per image.
        jitter_strength (float): Brightness/contrast/saturation factors are
            drawn from [1 - s, 1 + s].
        jitter_hue (float, optional): The hue shift is drawn from
            [-h, h] (a fraction of the hue circle, as torchvision's
            ``adjust_hue`` and kornia's ``ColorJitter(hue=h)``). None draws
            from [-s/4, s/4]. Defaults to None.
        blur_prob (float): Probability of a Gaussian blur per image.
        blur_sigma (tuple[float, float]): Range of the blur sigma in pixels.
        blur_kernel_ratio (float, optional): Blur kernel side as a fraction
            of the image side, rounded to an odd size as DACS's
            ``gaussian_blur`` does (0.1 there). None: ``2 * round(2 sigma)
            + 1``. Defaults to None.
        per_batch (bool): One jitter and one blur decision for the whole
            batch instead of one per image. Defaults to False.
    """

    #: Ranges of the arguments that configs set (a method that takes an
    #: augmentation dict adds them to its ``knob_ranges`` under its key).
    knob_ranges = {
        'jitter_prob': '[0, 1]',
        'jitter_strength': '[0, 1]',
        'jitter_hue': '[0, 0.5] or None',
        'blur_prob': '[0, 1]',
        'blur_sigma.*': '(0, inf)',
        'blur_kernel_ratio': '(0, 1] or None',
    }

    def __init__(self,
                 mean: Sequence[float],
                 std: Sequence[float],
                 jitter_prob: float = 0.8,
                 jitter_strength: float = 0.2,
                 jitter_hue: Optional[float] = None,
                 blur_prob: float = 0.5,
                 blur_sigma: Sequence[float] = (0.15, 1.15),
                 blur_kernel_ratio: Optional[float] = None,
                 per_batch: bool = False) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.jitter_prob = jitter_prob
        self.jitter_strength = jitter_strength
        if jitter_hue is not None and not 0 <= jitter_hue <= 0.5:
            raise ValueError('PhotometricAugment: jitter_hue must be in '
                             f'[0, 0.5], got {jitter_hue}')
        self.jitter_hue = (jitter_strength / 4
                           if jitter_hue is None else float(jitter_hue))
        self.blur_prob = blur_prob
        self.blur_sigma = tuple(blur_sigma)
        if blur_kernel_ratio is not None and not 0 < blur_kernel_ratio <= 1:
            raise ValueError('PhotometricAugment: blur_kernel_ratio must be '
                             f'in (0, 1], got {blur_kernel_ratio}')
        self.blur_kernel_ratio = blur_kernel_ratio
        self.per_batch = bool(per_batch)

    def _kernel_size(self, side: int, sigma: float) -> int:
        """Odd blur kernel size for an image side."""
        if self.blur_kernel_ratio is None:
            return 2 * int(round(2 * sigma)) + 1
        k = math.ceil(self.blur_kernel_ratio * side)
        return k if k % 2 else max(k - 1, 1)

    def _uniform(self, low: float, high: float) -> float:
        return float(torch.empty(()).uniform_(low, high))

    def __call__(self, inputs: Tensor) -> Tensor:
        """Augment a normalised batch (N, 3, H, W); returns a new tensor."""
        mean = self.mean.to(inputs.device)
        std = self.std.to(inputs.device)
        images = ((inputs * std + mean) / 255.).clamp(0, 1)
        out = []
        s = self.jitter_strength
        if self.per_batch:
            jitter = float(torch.rand(())) < self.jitter_prob
            blur = float(torch.rand(())) < self.blur_prob
        for img in images:
            if not self.per_batch:
                jitter = float(torch.rand(())) < self.jitter_prob
            if jitter:
                img = TF.adjust_brightness(img, self._uniform(1 - s, 1 + s))
                img = TF.adjust_contrast(img, self._uniform(1 - s, 1 + s))
                img = TF.adjust_saturation(img, self._uniform(1 - s, 1 + s))
                img = TF.adjust_hue(
                    img, self._uniform(-self.jitter_hue, self.jitter_hue))
            if not self.per_batch:
                blur = float(torch.rand(())) < self.blur_prob
            if blur:
                sigma = self._uniform(*self.blur_sigma)
                kx = self._kernel_size(img.shape[-1], sigma)
                ky = self._kernel_size(img.shape[-2], sigma)
                img = TF.gaussian_blur(img, [kx, ky], [sigma, sigma])
            out.append(img)
        return (torch.stack(out) * 255. - mean) / std
