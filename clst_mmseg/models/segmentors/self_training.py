"""Pure self-training: pseudo-labels from the current network, selected by a
fixed confidence threshold or class-balanced as in CBST (Zou et al., ECCV
2018)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..utils import (PhotometricAugment, class_balanced_thresholds,
                     confidence_threshold)
from .uda_segmentor import UDASegmentor

#: ``cb_thresholds`` of a class not yet seen: finite (checkpoints must hold
#: finite values, NonFiniteCheckHook) and below every confidence.
UNSEEN = -1.0

_SELECTIONS = dict(
    threshold=('threshold', ),
    class_balanced=('portion', 'portion_end', 'max_threshold', 'momentum'))


def full_res_logits(segmentor, inputs: Tensor) -> Tensor:
    """Logits of an mmseg ``EncoderDecoder`` resized to the input size.

    Args:
        segmentor (EncoderDecoder): The network.
        inputs (Tensor): Normalised images, (N, C, H, W).

    Returns:
        Tensor: Logits, (N, num_classes, H, W).
    """
    logits = segmentor._forward(inputs)
    return resize(logits, size=inputs.shape[2:], mode='bilinear',
                  align_corners=segmentor.align_corners)


def pseudo_label_ce(logits: Tensor, labels: Tensor,
                    ignore_index: int = 255) -> Tensor:
    """Cross-entropy averaged over the pixels with a pseudo-label; 0 (with a
    gradient path) when none has one.

    Args:
        logits (Tensor): (N, C, H, W).
        labels (Tensor): (N, H, W), long, ``ignore_index`` where dropped.
        ignore_index (int): Label of dropped pixels. Defaults to 255.

    Returns:
        Tensor: Scalar loss.
    """
    total = F.cross_entropy(logits, labels, ignore_index=ignore_index,
                            reduction='sum')
    return total / (labels != ignore_index).sum().clamp(min=1)


@MODELS.register_module()
class SelfTraining(UDASegmentor):
    """Pure self-training on target pseudo-labels of the current network.

    Each step: source cross-entropy; the current network (in eval mode, no
    gradient) predicts the plain target batch; pixels are selected by
    ``pseudo_label``; the student is trained with cross-entropy on the
    selected pixels of a photometrically augmented copy of the target batch.

    Class-balanced selection (CBST) keeps, per predicted class, the most
    confident ``portion`` of its pixels. CBST computes the per-class
    thresholds over the whole target set once per round; here they are an
    online estimate: each step's per-class quantile (over the batch) is
    folded into a running exponential average kept in the buffer
    ``cb_thresholds`` (so it is checkpointed; -1 for a class not seen yet).
    The labels are the raw arg-max, kept where its confidence reaches its
    class's threshold (not CBST's class-normalised rule, see
    :class:`CBST`). CBST's self-paced schedule
    (portion 20% rising by 5% per round to 50%) becomes a linear ramp from
    ``portion`` to ``portion_end`` over the iterations after the warm-up.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        pseudo_label (dict): Selection. ``dict(type='threshold',
            threshold=0.9)`` or ``dict(type='class_balanced', portion=0.2,
            portion_end=None, max_threshold=None, momentum=0.9)``;
            ``portion_end`` (optional) is reached at the run's last
            iteration (mmengine's ``max_iters``); ``momentum`` is the weight
            of the running thresholds (0: per-batch thresholds only);
            ``max_threshold`` caps every class threshold.
        warmup_iters (int): Source-only iterations before the target loss
            starts. Defaults to 0.
        warmup_ratio (float, optional): The warm-up as a fraction of the
            run's ``max_iters`` (mmengine's message hub), so it follows the
            schedule; overrides ``warmup_iters`` while training under a
            runner. Defaults to None.
        target_augment (dict, optional): Arguments of
            :class:`PhotometricAugment` for the student's target input;
            None turns the augmentation off.
        loss_weight (float): Weight of the target loss. Defaults to 1.
        data_preprocessor (dict, optional): Config of the preprocessor.
        init_cfg (dict, optional): Initialisation config.
    """

    knob_ranges = {
        'warmup_iters': 'int [0, inf)',
        'warmup_ratio': '[0, 1) or None',
        'loss_weight': '[0, inf)',
        'pseudo_label.threshold': '[0, 1]',
        'pseudo_label.portion': '(0, 1]',
        'pseudo_label.portion_end': '(0, 1] or None',
        'pseudo_label.max_threshold': '[0, 1] or None',
        'pseudo_label.momentum': '[0, 1)',
        **{f'target_augment.{k}': v
           for k, v in PhotometricAugment.knob_ranges.items()},
    }

    def __init__(self,
                 segmentor: ConfigType,
                 pseudo_label: dict = dict(type='threshold', threshold=0.9),
                 warmup_iters: int = 0,
                 warmup_ratio: Optional[float] = None,
                 target_augment: Optional[dict] = dict(),
                 loss_weight: float = 1.0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(segmentor, data_preprocessor, init_cfg)
        self.pseudo_cfg = self._check_pseudo_cfg(pseudo_label)
        if int(warmup_iters) != warmup_iters or warmup_iters < 0:
            raise ValueError('SelfTraining: warmup_iters must be an integer '
                             f'>= 0, got {warmup_iters!r}')
        self.warmup_iters = int(warmup_iters)
        if warmup_ratio is not None and not 0 <= warmup_ratio < 1:
            raise ValueError('SelfTraining: warmup_ratio must be in [0, 1), '
                             f'got {warmup_ratio!r}')
        self.warmup_ratio = warmup_ratio
        self.loss_weight = float(loss_weight)
        self.target_augment = (None if target_augment is None else
                               self._build_augment(target_augment))
        self.register_buffer('local_iter', torch.zeros((), dtype=torch.long))
        self.register_buffer('cb_thresholds',
                             torch.full((self.num_classes, ), UNSEEN))

    @staticmethod
    def _check_pseudo_cfg(cfg: dict) -> dict:
        cfg = dict(cfg)
        kind = cfg.pop('type', None)
        if kind not in _SELECTIONS:
            raise ValueError('SelfTraining: pseudo_label.type must be one of '
                             f'{sorted(_SELECTIONS)}, got {kind!r}')
        unknown = set(cfg) - set(_SELECTIONS[kind])
        if unknown:
            raise ValueError(f'SelfTraining: pseudo_label keys '
                             f'{sorted(unknown)} are not options of type '
                             f'{kind!r}')
        if kind == 'threshold':
            if 'threshold' not in cfg or not 0 <= cfg['threshold'] <= 1:
                raise ValueError('SelfTraining: pseudo_label.threshold must '
                                 'be given, in [0, 1]')
        else:
            cfg.setdefault('portion', 0.2)
            cfg.setdefault('momentum', 0.9)
            for key in ('portion', 'portion_end'):
                if cfg.get(key) is not None and not 0 < cfg[key] <= 1:
                    raise ValueError(f'SelfTraining: pseudo_label.{key} must '
                                     f'be in (0, 1], got {cfg[key]}')
            if not 0 <= cfg['momentum'] < 1:
                raise ValueError('SelfTraining: pseudo_label.momentum must be'
                                 f' in [0, 1), got {cfg["momentum"]}')
        cfg['type'] = kind
        return cfg

    def _build_augment(self, cfg: dict) -> PhotometricAugment:
        mean = getattr(self.data_preprocessor, 'mean', None)
        std = getattr(self.data_preprocessor, 'std', None)
        if mean is None or std is None:
            raise ValueError(
                f'{type(self).__name__}: the augmentation needs a data '
                'preprocessor with mean and std (e.g. UDADataPreProcessor)')
        return PhotometricAugment(mean.flatten().tolist(),
                                  std.flatten().tolist(), **cfg)

    @staticmethod
    def _max_iters() -> Optional[int]:
        return MessageHub.get_current_instance().get_info('max_iters')

    def warmup_end(self) -> int:
        """The first iteration with the target loss."""
        max_iters = self._max_iters()
        if self.warmup_ratio is None or not max_iters:
            return self.warmup_iters
        return int(round(self.warmup_ratio * max_iters))

    def warmups(self) -> dict:
        """The target loss starts at :meth:`warmup_end`."""
        return {'self-training': self.warmup_end()}

    def current_portion(self) -> float:
        """The class-balanced portion at the current iteration."""
        start = self.pseudo_cfg['portion']
        end = self.pseudo_cfg.get('portion_end')
        max_iters = self._max_iters()
        warmup = self.warmup_end()
        if end is None or not max_iters or max_iters <= warmup:
            return start
        t = (int(self.local_iter) - warmup) / (max_iters - warmup)
        return start + min(max(t, 0.0), 1.0) * (end - start)

    @torch.no_grad()
    def select(self, probs: Tensor) -> Tensor:
        """Pseudo-labels of a batch of class probabilities; updates the
        running class-balanced thresholds.

        Args:
            probs (Tensor): (N, C, H, W).

        Returns:
            Tensor: Labels (N, H, W), long, 255 where not selected.
        """
        cfg = self.pseudo_cfg
        if cfg['type'] == 'threshold':
            return confidence_threshold(probs, cfg['threshold'])[0]
        conf, labels = probs.max(dim=1)
        batch = class_balanced_thresholds(conf, labels, probs.shape[1],
                                          self.current_portion())
        seen = torch.isfinite(batch)
        # (checkpoints of older versions marked unseen classes with +inf)
        known = (self.cb_thresholds >= 0) & torch.isfinite(self.cb_thresholds)
        m = cfg['momentum']
        running = torch.where(known, m * self.cb_thresholds + (1 - m) * batch,
                              batch)
        self.cb_thresholds.copy_(
            torch.where(seen, running, self.cb_thresholds))
        thresholds = self.cb_thresholds
        if cfg.get('max_threshold') is not None:
            thresholds = thresholds.clamp(max=cfg['max_threshold'])
        return labels.masked_fill(conf < thresholds[labels], 255)

    def loss(self,
             inputs: Tensor,
             data_samples: SampleList,
             target_inputs: Optional[Tensor] = None,
             target_data_samples: Optional[SampleList] = None) -> dict:
        """Source cross-entropy plus the pseudo-label loss on the target.
        Call once per training step: it advances the iteration counter.

        Returns:
            dict[str, Tensor]: ``decode.*`` (source) and ``st.loss_ce``,
            ``st.kept`` (fraction of target pixels with a pseudo-label).
        """
        losses = self.segmentor.loss(inputs, data_samples)
        step = int(self.local_iter)
        self.local_iter += 1
        if target_inputs is None or step < self.warmup_end():
            return losses
        labels = self.target_pseudo_labels(target_inputs, target_data_samples)
        self.record_pseudo_labels(labels, target_data_samples)
        student_in = (self.target_augment(target_inputs)
                      if self.target_augment is not None else target_inputs)
        logits = full_res_logits(self.segmentor, student_in)
        losses['st.loss_ce'] = self.loss_weight * pseudo_label_ce(
            logits, labels)
        losses['st.kept'] = (labels != 255).float().mean()
        return losses

    def target_pseudo_labels(self, target_inputs: Tensor,
                             target_data_samples: SampleList) -> Tensor:
        """The step's pseudo-labels: the current network (eval mode, no
        gradient) on the plain target batch, selected by :meth:`select`.

        Returns:
            Tensor: (N, H, W) long at the input size, 255 where unlabelled.
        """
        was_training = self.segmentor.training
        self.segmentor.eval()
        with torch.no_grad():
            probs = full_res_logits(self.segmentor, target_inputs).softmax(1)
        self.segmentor.train(was_training)
        return self.select(probs)
