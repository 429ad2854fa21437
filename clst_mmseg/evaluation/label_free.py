"""Label-free model-selection criteria: scores of a segmentation network on
unlabelled target images that may stand in for the target-val mIoU when a
checkpoint (or a hyper-parameter) has to be chosen without target labels.

Pure tensor functions over softmax outputs; :class:`LabelFreeCriteria`
accumulates them over a data set one batch at a time. Every criterion is
oriented so that *higher is better* (:data:`CRITERIA` says which raw value
is negated).

References:
    - Entropy: prediction entropy as a selection criterion (Morerio et al.,
      "Minimal-entropy correlation alignment", ICLR 2018; the baseline of
      Saito et al. 2021).
    - Information maximisation (IM): H(mean prediction) - mean H(prediction)
      (Gomes et al. 2010; SHOT's objective, Liang et al. ICML 2020; used as a
      validator by Musgrave et al., "Benchmarking validation methods for
      unsupervised domain adaptation", 2022).
    - Soft neighbourhood density (SND): Saito et al., "Tune it the right way:
      unsupervised validation of domain adaptation via soft neighborhood
      density", ICCV 2021 (github.com/VisionLearningGroup/SND): entropy of
      the softmax over temperature-scaled cosine similarities between the
      softmax outputs of target samples, temperature 0.05.
"""
import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

#: criterion -> (what it measures, whether the raw value is negated so that
#: higher is better)
CRITERIA = {
    'entropy': ('mean prediction entropy on target train (nats); lower is '
                'better, stored negated', True),
    'im': ('information maximisation: H(mean p) - mean H(p) (nats)', False),
    'snd': ('soft neighbourhood density (Saito et al. 2021)', False),
}


def _flat(probs: Tensor) -> Tensor:
    """(N, C, H, W) or (P, C) probabilities -> (P, C) float64."""
    if probs.dim() == 4:
        probs = probs.permute(0, 2, 3, 1).reshape(-1, probs.shape[1])
    if probs.dim() != 2:
        raise ValueError('expected (N, C, H, W) or (P, C) probabilities, got '
                         f'shape {tuple(probs.shape)}')
    return probs.double()


def entropy(probs: Tensor) -> Tensor:
    """Per-row entropy ``-sum_c p_c log p_c`` in nats (0 log 0 = 0).

    Args:
        probs (Tensor): (P, C) probabilities.

    Returns:
        Tensor: (P,) entropies.
    """
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)


def mean_entropy(probs: Tensor) -> float:
    """Mean per-pixel prediction entropy (nats).

    Args:
        probs (Tensor): (N, C, H, W) or (P, C) softmax outputs.

    Returns:
        float: The mean entropy.
    """
    return float(entropy(_flat(probs)).mean())


def information_maximisation(probs: Tensor) -> float:
    """IM score ``H(mean_p) - mean(H(p))``: high when predictions are
    individually confident and, together, diverse.

    Args:
        probs (Tensor): (N, C, H, W) or (P, C) softmax outputs.

    Returns:
        float: The score (nats).
    """
    p = _flat(probs)
    return float(entropy(p.mean(0, keepdim=True))[0] - entropy(p).mean())


def soft_neighbourhood_density(probs: Tensor,
                               temperature: float = 0.05,
                               exclude_self: bool = True) -> float:
    """SND of a set of samples (rows): mean over samples of the entropy of
    the softmax over their cosine similarities to the other samples, divided
    by ``temperature``.

    Args:
        probs (Tensor): (P, C) softmax outputs of P >= 2 samples.
        temperature (float): Softmax temperature (0.05 in the paper).
        exclude_self (bool): Leave each sample's similarity to itself out of
            its softmax (the paper's definition and the classification code
            of the reference repository; its segmentation script keeps it).

    Returns:
        float: The density (nats).
    """
    p = _flat(probs)
    if p.shape[0] < 2:
        raise ValueError('soft_neighbourhood_density needs >= 2 samples')
    f = F.normalize(p, dim=1)
    sim = f @ f.t() / temperature
    if exclude_self:
        sim = sim.masked_fill(
            torch.eye(len(p), dtype=torch.bool, device=p.device),
            float('-inf'))
    return float(entropy(sim.softmax(1)).mean())


def sample_pixels(probs: Tensor, num: int,
                  generator: torch.Generator) -> Tensor:
    """``num`` pixels of one image's (C, H, W) probabilities, drawn without
    replacement (all of them if there are fewer).

    Returns:
        Tensor: (min(num, H*W), C).
    """
    flat = probs.reshape(probs.shape[0], -1).t()
    if flat.shape[0] <= num:
        return flat
    idx = torch.randperm(flat.shape[0], generator=generator)[:num]
    return flat[idx.to(flat.device)]


class LabelFreeCriteria:
    """Accumulates the criteria of :data:`CRITERIA` over batches of target
    softmax outputs (no labels).

    Entropy and IM are computed over every pixel of every image (IM's
    marginal is the mean prediction over all of them). SND follows the
    reference segmentation code: per image, over ``snd_pixels`` pixels drawn
    at random (from a generator seeded with ``seed``, so that every
    checkpoint of a run sees the same draws given the same images), then
    averaged over images.

    Args:
        snd_pixels (int): Pixels per image for SND. Defaults to 100 (the
            reference code's).
        temperature (float): SND temperature. Defaults to 0.05.
        seed (int): Seed of the pixel draws. Defaults to 0.
    """

    def __init__(self, snd_pixels: int = 100, temperature: float = 0.05,
                 seed: int = 0) -> None:
        if snd_pixels < 2:
            raise ValueError('LabelFreeCriteria: snd_pixels must be >= 2')
        self.snd_pixels = int(snd_pixels)
        self.temperature = float(temperature)
        self.generator = torch.Generator().manual_seed(int(seed))
        self._ent_sum = 0.0
        self._count = 0
        self._marginal: Optional[Tensor] = None
        self._snd = []

    def update(self, probs: Tensor) -> None:
        """Add a batch of (N, C, H, W) softmax outputs."""
        if probs.dim() != 4:
            raise ValueError('LabelFreeCriteria.update expects (N, C, H, W) '
                             f'probabilities, got {tuple(probs.shape)}')
        probs = probs.detach().float().cpu()
        flat = _flat(probs)
        self._ent_sum += float(entropy(flat).sum())
        self._count += flat.shape[0]
        total = flat.sum(0)
        self._marginal = total if self._marginal is None else \
            self._marginal + total
        for img in probs:
            self._snd.append(soft_neighbourhood_density(
                sample_pixels(img, self.snd_pixels, self.generator),
                self.temperature))

    def compute(self) -> Dict[str, float]:
        """The criteria, oriented so that higher is better: ``entropy``
        (negated mean entropy), ``im`` and ``snd``; ``raw_entropy`` keeps the
        positive value."""
        if not self._count:
            raise ValueError('LabelFreeCriteria: no prediction was added')
        mean_ent = self._ent_sum / self._count
        marginal = (self._marginal / self._count).unsqueeze(0)
        im = float(entropy(marginal)[0]) - mean_ent
        return dict(entropy=-mean_ent, raw_entropy=mean_ent, im=im,
                    snd=float(sum(self._snd) / len(self._snd)))


def agreement(student: Tensor, reference: Tensor,
              ignore_index: int = 255) -> float:
    """Fraction of pixels where two label maps agree (pixels that either
    marks ``ignore_index`` are left out; NaN if none is left).

    Args:
        student (Tensor): (N, H, W) labels of the evaluated network.
        reference (Tensor): (N, H, W) labels of its teacher / ensemble.
    """
    valid = (student != ignore_index) & (reference != ignore_index)
    n = int(valid.sum())
    if n == 0:
        return math.nan
    return float((student[valid] == reference[valid]).sum()) / n
