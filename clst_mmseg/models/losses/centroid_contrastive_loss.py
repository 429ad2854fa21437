"""Contrastive loss between class centroids of two domains (CLST)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS


def batch_centroids(feats: Tensor, labels: Tensor, num_classes: int,
                    ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
    """Per-class means of L2-normalised pixel embeddings.

    Args:
        feats (Tensor): (N, D, H, W) embeddings.
        labels (Tensor): (N, H, W) class indices at the same resolution,
            ``ignore_index`` where unlabelled.
        num_classes (int): Number of classes C.
        ignore_index (int): Label of pixels left out. Defaults to 255.

    Returns:
        tuple[Tensor, Tensor]: Centroids (C, D) (zero rows for absent
        classes; not normalised) and ``present`` (C,) bool.
    """
    if feats.shape[-2:] != labels.shape[-2:]:
        raise ValueError(
            'batch_centroids: features and labels differ in size: '
            f'{tuple(feats.shape)} vs {tuple(labels.shape)}')
    d = feats.shape[1]
    f = F.normalize(feats, dim=1).permute(0, 2, 3, 1).reshape(-1, d)
    lab = labels.reshape(-1).long()
    keep = lab != ignore_index
    lab, f = lab[keep], f[keep]
    if lab.numel() and (lab.min() < 0 or lab.max() >= num_classes):
        raise ValueError('batch_centroids: labels must be in '
                         f'[0, {num_classes}) or {ignore_index}, got values '
                         f'in [{int(lab.min())}, {int(lab.max())}]')
    onehot = F.one_hot(lab, num_classes).to(f.dtype)
    counts = onehot.sum(0)
    cent = onehot.t() @ f / counts.clamp(min=1).unsqueeze(1)
    return cent, counts > 0


def info_nce(anchors: Tensor, candidates: Tensor, positive: Tensor,
             temperature: float) -> Tensor:
    """Mean InfoNCE of anchors against candidate centroids (cosine
    similarity / temperature, softmax over the candidates).

    Args:
        anchors (Tensor): (A, D).
        candidates (Tensor): (S, D).
        positive (Tensor): (A,) index of each anchor's positive candidate.
        temperature (float): Softmax temperature.

    Returns:
        Tensor: Scalar loss.
    """
    logits = F.normalize(anchors, dim=1) @ F.normalize(
        candidates, dim=1).t() / temperature
    return F.cross_entropy(logits, positive)


@MODELS.register_module()
class CentroidContrastiveLoss(nn.Module):
    """InfoNCE that pulls each target class centroid towards the source
    centroid of the same class and pushes it from the source centroids of
    the other classes (CLST, Marsden et al., arXiv 2105.02001).

    Centroids are means of L2-normalised embeddings over the pixels of a
    class in the batch (source: ground truth, target: pseudo-labels). With
    ``centroid_momentum`` m > 0 they are smoothed over iterations: the
    centroid used at a step is ``m * previous (detached) + (1 - m) * batch``
    and a class absent from the batch keeps its previous centroid, which
    can then serve as a positive/negative (never as an anchor, since it
    carries no gradient). Classes absent from the batch and never seen
    before are left out of the candidate set; a target class whose source
    centroid is unavailable is not an anchor; with no anchor at all the
    loss is an exact 0 that keeps the graph (no NaN).

    Args:
        num_classes (int): Number of classes C.
        feat_channels (int): Embedding size D (for the smoothed centroids,
            kept as buffers so they are checkpointed).
        temperature (float): Softmax temperature. Defaults to 0.1.
        loss_weight (float): Multiplies the loss. Defaults to 1.
        centroid_momentum (float): m in [0, 1). Defaults to 0 (per-batch
            centroids).
        symmetric (bool): Also contrast each source centroid against the
            target centroids and average both directions. Defaults to False.
        detach_source (bool): Stop gradients through the source centroids
            (they are fixed anchors of the alignment). Defaults to False.
        ignore_index (int): Label of pixels left out. Defaults to 255.
    """

    def __init__(self,
                 num_classes: int,
                 feat_channels: int,
                 temperature: float = 0.1,
                 loss_weight: float = 1.0,
                 centroid_momentum: float = 0.0,
                 symmetric: bool = False,
                 detach_source: bool = False,
                 ignore_index: int = 255) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError('CentroidContrastiveLoss: temperature must be '
                             f'> 0, got {temperature}')
        if not 0 <= centroid_momentum < 1:
            raise ValueError('CentroidContrastiveLoss: centroid_momentum '
                             f'must be in [0, 1), got {centroid_momentum}')
        self.num_classes = num_classes
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)
        self.momentum = float(centroid_momentum)
        self.symmetric = symmetric
        self.detach_source = detach_source
        self.ignore_index = ignore_index
        for domain in ('src', 'tgt'):
            self.register_buffer(f'{domain}_centroids',
                                 torch.zeros(num_classes, feat_channels))
            self.register_buffer(f'{domain}_seen',
                                 torch.zeros(num_classes, dtype=torch.bool))

    def _smooth(self, batch: Tensor, present: Tensor,
                domain: str) -> Tuple[Tensor, Tensor]:
        """Mix the batch centroids with the running ones; returns the
        centroids to use (C, D) and which classes are available."""
        if self.momentum == 0:
            return batch, present
        prev = getattr(self, f'{domain}_centroids')
        seen = getattr(self, f'{domain}_seen')
        prev_n = F.normalize(prev, dim=1)
        batch_n = F.normalize(batch, dim=1)
        mixed = torch.where((present & seen)[:, None],
                            self.momentum * prev_n +
                            (1 - self.momentum) * batch_n, batch_n)
        used = torch.where(present[:, None], mixed, prev_n)
        if self.training:
            prev.copy_(torch.where(present[:, None], mixed.detach(), prev))
            seen |= present
        return used, present | seen

    def forward(self, src_feats: Tensor, src_labels: Tensor,
                tgt_feats: Tensor, tgt_labels: Tensor) -> dict:
        """Compute the loss.

        Args:
            src_feats (Tensor): (N, D, H, W) source embeddings.
            src_labels (Tensor): (N, H, W) source labels at that resolution.
            tgt_feats (Tensor): (M, D, H', W') target embeddings.
            tgt_labels (Tensor): (M, H', W') target pseudo-labels.

        Returns:
            dict[str, Tensor]: ``loss`` (weighted), and for logging
            ``pos_sim`` / ``neg_sim`` (mean cosine similarity of the target
            anchors to the same-class / other-class source centroids) and
            ``anchors`` (number of anchor classes).
        """
        c = self.num_classes
        src_c, src_present = batch_centroids(src_feats, src_labels, c,
                                             self.ignore_index)
        tgt_c, tgt_present = batch_centroids(tgt_feats, tgt_labels, c,
                                             self.ignore_index)
        if self.detach_source:
            src_c = src_c.detach()
        src_c, src_avail = self._smooth(src_c, src_present, 'src')
        tgt_c, tgt_avail = self._smooth(tgt_c, tgt_present, 'tgt')

        zero = (src_feats.sum() + tgt_feats.sum()) * 0.
        terms = []
        stats = dict(pos_sim=zero.detach(), neg_sim=zero.detach())
        anchors = tgt_present & src_avail
        n_anchor = int(anchors.sum())
        if n_anchor:
            cand = src_avail.nonzero().squeeze(1)
            pos = torch.searchsorted(cand, anchors.nonzero().squeeze(1))
            terms.append(info_nce(tgt_c[anchors], src_c[cand], pos,
                                  self.temperature))
            with torch.no_grad():
                sim = F.normalize(tgt_c[anchors], dim=1) @ F.normalize(
                    src_c[cand], dim=1).t()
                is_pos = F.one_hot(pos, len(cand)).bool()
                stats['pos_sim'] = sim[is_pos].mean()
                if len(cand) > 1:
                    stats['neg_sim'] = sim[~is_pos].mean()
        if self.symmetric:
            s_anchors = src_present & tgt_avail
            if s_anchors.any():
                cand = tgt_avail.nonzero().squeeze(1)
                pos = torch.searchsorted(cand, s_anchors.nonzero().squeeze(1))
                terms.append(info_nce(src_c[s_anchors], tgt_c[cand], pos,
                                      self.temperature))
        loss = zero + (sum(terms) / len(terms) if terms else 0.)
        return dict(loss=self.loss_weight * loss,
                    anchors=torch.tensor(float(n_anchor),
                                         device=src_feats.device),
                    **stats)
