"""FDA (Yang & Soatto, "FDA: Fourier Domain Adaptation for Semantic
Segmentation", CVPR 2020) with one beta: each source image takes the
low-frequency amplitude spectrum of a target image (its phase, the content,
stays), the segmentor learns the source labels on it, and a robust
(Charbonnier) entropy penalty sharpens its target predictions.

A method that lives outside the package, written from
``docs/adding_a_method.md``; its config imports it with ``custom_imports``
from this folder. Facts from the official code, github.com/YanchaoYang/FDA:
``utils/__init__.py`` (``FDA_source_to_target``, ``low_freq_mutate``),
``model/deeplab.py`` (the entropy term), ``train.py`` (the objective).
The multi-band ensemble (FDA-MBT) and the self-supervised round
(``SStrain.py``) are separate trainings and not part of this model.
"""
import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from clst_mmseg.models.segmentors.uda_segmentor import UDASegmentor


def low_freq_mutate(amp_src: Tensor, amp_trg: Tensor, beta: float) -> Tensor:
    """The source amplitude with its low frequencies from the target.

    As the official ``low_freq_mutate``: in the unshifted spectrum, the four
    ``b x b`` corners (frequencies ``-b .. b-1`` along each axis) with
    ``b = floor(min(h, w) * beta)``; nothing changes when ``b`` is 0. The
    window is one frequency wider on the negative side, so once the real
    part of the image is taken, frequency ``-b`` mixes the target's
    amplitude with the source's ``+b`` (as in the release).

    Args:
        amp_src (Tensor): Source amplitudes, (..., H, W).
        amp_trg (Tensor): Target amplitudes, same shape.
        beta (float): Size of the window relative to the image side.

    Returns:
        Tensor: The mutated source amplitudes.
    """
    h, w = amp_src.shape[-2:]
    b = int(math.floor(min(h, w) * beta))
    out = amp_src.clone()
    if b == 0:
        return out
    for rows in (slice(0, b), slice(h - b, h)):
        for cols in (slice(0, b), slice(w - b, w)):
            out[..., rows, cols] = amp_trg[..., rows, cols]
    return out


def fda_source_to_target(src: Tensor, trg: Tensor, beta: float) -> Tensor:
    """Source images in the target's "style" (official
    ``FDA_source_to_target``): the 2-D FFT of each channel, the source phase
    with :func:`low_freq_mutate`'d amplitudes, the real part of the inverse
    FFT. Works on raw pixel values: normalised images would swap the sign
    of the zero frequency (the release warns of numerical artifacts).

    Args:
        src (Tensor): Raw source images, (N, C, H, W).
        trg (Tensor): Raw target images, same shape.
        beta (float): Window size, see :func:`low_freq_mutate`.

    Returns:
        Tensor: (N, C, H, W), float.
    """
    fft_src = torch.fft.fft2(src.float())
    fft_trg = torch.fft.fft2(trg.float())
    amp = low_freq_mutate(fft_src.abs(), fft_trg.abs(), beta)
    return torch.fft.ifft2(torch.polar(amp, fft_src.angle())).real


def robust_entropy(logits: Tensor, eta: float) -> Tensor:
    """FDA's entropy term: the per-pixel entropy normalised by ``ln C``
    (the release divides by 2.9444 = ln 19), through the Charbonnier
    penalty ``(ent^2 + 1e-8)^eta``, averaged over pixels.

    Args:
        logits (Tensor): (N, C, H, W).
        eta (float): Exponent of the penalty.

    Returns:
        Tensor: Scalar.
    """
    log_p = F.log_softmax(logits, dim=1)
    ent = -(log_p.exp() * log_p).sum(dim=1) / math.log(logits.shape[1])
    return ((ent**2 + 1e-8)**eta).mean()


@MODELS.register_module()
class FDA(UDASegmentor):
    """Fourier Domain Adaptation, one beta.

    Each step: the source batch takes the low-frequency amplitudes of the
    target batch (image ``i`` of each, on raw pixels), the segmentor gets
    the source cross-entropy on it; after ``entropy_after`` iterations the
    target logits (at the head's resolution, as the release computes them)
    add ``entropy_weight`` times :func:`robust_entropy`. The step count is
    a buffer, so a resumed run knows where it is.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        beta (float): Low-frequency window, relative to the image side, in
            [0, 0.5]. Defaults to 0.01.
        entropy_weight (float): Weight of the entropy term, >= 0.
            Defaults to 0.005.
        eta (float): Charbonnier exponent, > 0. Defaults to 2.0.
        entropy_after (int): The entropy term trains from the iteration
            after this one (the release: ``i > switch2entropy``).
            Defaults to 0.
        data_preprocessor (dict, optional): Its mean and std give the raw
            pixels back.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 beta: float = 0.01,
                 entropy_weight: float = 0.005,
                 eta: float = 2.0,
                 entropy_after: int = 0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(segmentor, data_preprocessor, init_cfg)
        if not 0 <= beta <= 0.5:
            raise ValueError(f'FDA: beta must be in [0, 0.5], got {beta!r}')
        if entropy_weight < 0:
            raise ValueError('FDA: entropy_weight must be >= 0, got '
                             f'{entropy_weight!r}')
        if eta <= 0:
            raise ValueError(f'FDA: eta must be > 0, got {eta!r}')
        if int(entropy_after) != entropy_after or entropy_after < 0:
            raise ValueError('FDA: entropy_after must be an integer >= 0, '
                             f'got {entropy_after!r}')
        mean = getattr(self.data_preprocessor, 'mean', None)
        std = getattr(self.data_preprocessor, 'std', None)
        if mean is None or std is None:
            raise ValueError('FDA: needs a data preprocessor with mean and '
                             'std (e.g. UDADataPreProcessor)')
        self.beta = float(beta)
        self.entropy_weight = float(entropy_weight)
        self.eta = float(eta)
        self.entropy_after = int(entropy_after)
        self.register_buffer('local_iter', torch.zeros((), dtype=torch.long))

    def warmups(self) -> Dict[str, int]:
        return {'entropy': self.entropy_after + 1}

    def _raw(self, x: Tensor) -> Tensor:
        return x * self.data_preprocessor.std + self.data_preprocessor.mean

    def _normalised(self, x: Tensor) -> Tensor:
        return (x - self.data_preprocessor.mean) / self.data_preprocessor.std

    def loss(self,
             inputs: Tensor,
             data_samples: SampleList,
             target_inputs: Optional[Tensor] = None,
             target_data_samples: Optional[SampleList] = None) -> dict:
        """Source cross-entropy on the FDA images plus the target entropy.

        Returns:
            dict[str, Tensor]: ``decode.*`` (source), ``fda.loss_ent``
            (weighted) and ``fda.ent`` (logged) once the entropy trains.
        """
        step = int(self.local_iter)
        self.local_iter += 1
        if target_inputs is None:
            return self.segmentor.loss(inputs, data_samples)
        if target_inputs.shape != inputs.shape:
            raise ValueError('FDA: source and target batches must have one '
                             f'shape, got {tuple(inputs.shape)} and '
                             f'{tuple(target_inputs.shape)}')
        src_in_trg = fda_source_to_target(
            self._raw(inputs), self._raw(target_inputs), self.beta)
        losses = self.segmentor.loss(
            self._normalised(src_in_trg).to(inputs.dtype), data_samples)
        if step > self.entropy_after:
            ent = robust_entropy(self.segmentor._forward(target_inputs),
                                 self.eta)
            losses['fda.loss_ent'] = self.entropy_weight * ent
            losses['fda.ent'] = ent.detach()
        return losses
