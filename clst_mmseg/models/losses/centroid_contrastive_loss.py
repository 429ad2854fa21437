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
    class in the batch (source: ground truth, target: pseudo-labels). The
    anchors are the target centroids of the current batch and the
    candidates (positive and negatives) the source centroids of the current
    batch, all with their full gradient: with every class in both batches
    the loss is a plain InfoNCE over the batch centroids.

    A per-class memory of both domains' centroids (an exponential moving
    average of the batch centroids, kept as buffers without gradient, so it
    is checkpointed) stands in, as a constant, for a candidate class absent
    from the source batch when ``memory_candidates`` is set (as prototype
    methods keep their memories, e.g. SePiCo's ``ProtoEstimator``); it is
    never an anchor and receives no gradient. The memory also gives the
    per-class source-target distance that is logged. Classes absent from
    the batch and from the memory are left out of the candidates; a target
    class without a candidate of its own class is not an anchor; with no
    anchor at all the loss is an exact 0 that keeps the graph (no NaN).

    Args:
        num_classes (int): Number of classes C.
        feat_channels (int): Embedding size D (of the memory buffers).
        temperature (float): Softmax temperature. Defaults to 0.1.
        loss_weight (float): Multiplies the loss. Defaults to 1.
        centroid_momentum (float): Momentum m in [0, 1) of the memory:
            ``memory <- m * memory + (1 - m) * batch centroid`` for the
            classes in the batch (the first one initialises it). Defaults
            to 0.9.
        memory_candidates (bool): Use the memory centroid of a class absent
            from the batch as a (detached) positive/negative. False: only
            the batch's own centroids. Defaults to True.
        symmetric (bool): Also contrast each source centroid against the
            target centroids and average both directions. Defaults to False.
        detach_source (bool): Stop gradients through the source centroids
            (they are fixed targets of the alignment). Defaults to False.
        ignore_index (int): Label of pixels left out. Defaults to 255.
    """

    knob_ranges = {
        'feat_channels': 'int [1, inf)',
        'temperature': '(0, inf)',
        'loss_weight': '[0, inf)',
        'centroid_momentum': '[0, 1)',
    }

    def __init__(self,
                 num_classes: int,
                 feat_channels: int,
                 temperature: float = 0.1,
                 loss_weight: float = 1.0,
                 centroid_momentum: float = 0.9,
                 memory_candidates: bool = True,
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
        self.memory_candidates = bool(memory_candidates)
        self.symmetric = symmetric
        self.detach_source = detach_source
        self.ignore_index = ignore_index
        for domain in ('src', 'tgt'):
            self.register_buffer(f'{domain}_centroids',
                                 torch.zeros(num_classes, feat_channels))
            self.register_buffer(f'{domain}_seen',
                                 torch.zeros(num_classes, dtype=torch.bool))

    @torch.no_grad()
    def _remember(self, batch: Tensor, present: Tensor, domain: str) -> None:
        """Fold the batch centroids (normalised, detached) into the
        memory."""
        mem = getattr(self, f'{domain}_centroids')
        seen = getattr(self, f'{domain}_seen')
        batch = F.normalize(batch.detach().float(), dim=1).to(mem.dtype)
        mixed = torch.where(seen[:, None],
                            self.momentum * mem + (1 - self.momentum) * batch,
                            batch)
        mem.copy_(torch.where(present[:, None], mixed, mem))
        seen |= present

    def _candidates(self, batch: Tensor, present: Tensor,
                    domain: str) -> Tuple[Tensor, Tensor]:
        """Centroids (C, D) to contrast against, and which classes have
        one: the batch's (with gradient), or the memory's (constant) for a
        class absent from the batch."""
        if not self.memory_candidates:
            return batch, present
        mem = getattr(self, f'{domain}_centroids').to(batch.dtype)
        seen = getattr(self, f'{domain}_seen')
        return torch.where(present[:, None], batch, mem), present | seen

    def _direction(self, anchors_c: Tensor, anchor_present: Tensor,
                   cand_c: Tensor, cand_avail: Tensor):
        """InfoNCE of one direction; returns (loss or None, similarity
        matrix (A, S) without gradient, positive index (A,))."""
        anchors = anchor_present & cand_avail
        if not anchors.any():
            return None, None, None
        cand = cand_avail.nonzero().squeeze(1)
        pos = torch.searchsorted(cand, anchors.nonzero().squeeze(1))
        loss = info_nce(anchors_c[anchors], cand_c[cand], pos,
                        self.temperature)
        with torch.no_grad():
            sim = F.normalize(anchors_c[anchors], dim=1) @ F.normalize(
                cand_c[cand], dim=1).t()
        return loss, sim, pos

    @torch.no_grad()
    def class_distances(self) -> Tensor:
        """Cosine distance ``1 - cos`` between the memory's source and
        target centroid of every class, (C,); NaN for a class the memory
        has not seen in both domains."""
        dist = 1 - F.cosine_similarity(self.src_centroids.float(),
                                       self.tgt_centroids.float(), dim=1)
        both = self.src_seen & self.tgt_seen
        return torch.where(both, dist, torch.full_like(dist, float('nan')))

    def forward(self, src_feats: Tensor, src_labels: Tensor,
                tgt_feats: Tensor, tgt_labels: Tensor) -> dict:
        """Compute the loss (and, in training mode, update the memory).

        Args:
            src_feats (Tensor): (N, D, H, W) source embeddings.
            src_labels (Tensor): (N, H, W) source labels at that resolution.
            tgt_feats (Tensor): (M, D, H', W') target embeddings.
            tgt_labels (Tensor): (M, H', W') target pseudo-labels.

        Returns:
            dict[str, Tensor]: ``loss`` (weighted), and for logging
            ``pos_sim`` / ``neg_sim`` (mean cosine similarity of the target
            anchors to the same-class / other-class candidates) and
            ``anchors`` (number of anchor classes).
        """
        c = self.num_classes
        src_c, src_present = batch_centroids(src_feats, src_labels, c,
                                             self.ignore_index)
        tgt_c, tgt_present = batch_centroids(tgt_feats, tgt_labels, c,
                                             self.ignore_index)
        if self.detach_source:
            src_c = src_c.detach()
        src_cand, src_avail = self._candidates(src_c, src_present, 'src')

        zero = (src_feats.sum() + tgt_feats.sum()) * 0.
        stats = dict(pos_sim=zero.detach(), neg_sim=zero.detach())
        terms = []
        loss, sim, pos = self._direction(tgt_c, tgt_present, src_cand,
                                         src_avail)
        n_anchor = 0
        if loss is not None:
            terms.append(loss)
            n_anchor = len(pos)
            is_pos = F.one_hot(pos, sim.shape[1]).bool()
            stats['pos_sim'] = sim[is_pos].mean()
            if sim.shape[1] > 1:
                stats['neg_sim'] = sim[~is_pos].mean()
        if self.symmetric:
            tgt_cand, tgt_avail = self._candidates(tgt_c, tgt_present, 'tgt')
            loss, _, _ = self._direction(src_c, src_present, tgt_cand,
                                         tgt_avail)
            if loss is not None:
                terms.append(loss)
        if self.training:
            self._remember(src_c, src_present, 'src')
            self._remember(tgt_c, tgt_present, 'tgt')
        loss = zero + (sum(terms) / len(terms) if terms else 0.)
        return dict(loss=self.loss_weight * loss,
                    anchors=torch.tensor(float(n_anchor),
                                         device=src_feats.device),
                    **stats)
