"""CLST: contrastive learning of class centroids and self-training with a
temporal ensemble (Marsden, Bartler, Doebler, Yang, arXiv 2105.02001)."""
import contextlib
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..utils import PhotometricAugment, class_balanced, confidence_threshold
from ..utils.ensemble_memory import AugGeometry
from ..utils.head_features import capture_classifier_input
from .self_training import pseudo_label_ce
from .uda_segmentor import UDASegmentor

_LABEL_SOURCES = ('ensemble', 'online')
_FEATURE_SOURCES = ('backbone', 'classifier_input')
_SELECTIONS = dict(threshold=('threshold', ),
                   class_balanced=('portion', 'max_threshold'))


def sigmoid_rampup(step: int, start: int, length: int) -> float:
    """0 before ``start``; then ``exp(-5 (1 - t)^2)`` for t rising from 0
    to 1 over ``length`` iterations (Laine & Aila's ramp); 1 afterwards (at
    once if ``length`` is 0)."""
    if step < start:
        return 0.0
    if length <= 0:
        return 1.0
    t = min(1.0, (step - start) / length)
    return math.exp(-5.0 * (1.0 - t)**2)


def check_pseudo_label_cfg(cfg: dict, owner: str = 'CLST') -> dict:
    """Validate ``dict(type='threshold', threshold=...)`` or
    ``dict(type='class_balanced', portion=..., max_threshold=None)``."""
    cfg = dict(cfg)
    kind = cfg.get('type')
    if kind not in _SELECTIONS:
        raise ValueError(f'{owner}: pseudo_label.type must be one of '
                         f'{sorted(_SELECTIONS)}, got {kind!r}')
    unknown = set(cfg) - {'type', *_SELECTIONS[kind]}
    if unknown:
        raise ValueError(f'{owner}: pseudo_label keys {sorted(unknown)} are '
                         f'not options of type {kind!r}')
    if kind == 'threshold':
        if not 0 <= cfg.get('threshold', -1) <= 1:
            raise ValueError(f'{owner}: pseudo_label.threshold must be given,'
                             ' in [0, 1]')
    else:
        cfg.setdefault('max_threshold', None)
        if not 0 < cfg.get('portion', 0) <= 1:
            raise ValueError(f'{owner}: pseudo_label.portion must be given, '
                             'in (0, 1]')
    return cfg


def _nearest(labels: Tensor, size: Sequence[int]) -> Tensor:
    """Resize (N, H, W) integer maps to ``size`` by nearest neighbour."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[:, None].float(), size=tuple(size),
                         mode='nearest')[:, 0].long()


def _pad_to(x: Tensor, shape: Sequence[int], value: float) -> Tensor:
    """Pad a (..., H, W) map at the bottom/right to ``shape`` (as the data
    preprocessor pads images)."""
    dh, dw = shape[0] - x.shape[-2], shape[1] - x.shape[-1]
    if dh < 0 or dw < 0:
        raise ValueError(f'map of size {tuple(x.shape[-2:])} is larger than '
                         f'the batch input {tuple(shape)}')
    return F.pad(x, (0, dw, 0, dh), value=value) if dh or dw else x


@MODELS.register_module()
class CLST(UDASegmentor):
    """CLST: source cross-entropy + centroid-contrastive loss + self-training
    on temporal-ensemble pseudo-labels.

    One step: the source batch goes through the network (cross-entropy on
    its labels); the photometrically augmented target batch goes through it
    once (the student). Its detached softmax, with the target geometry, is
    left for :class:`TemporalEnsembleHook`, which folds it into the
    per-image ensemble after the step and, before the next steps, writes the
    ensemble's pseudo-labels into the target samples (``gt_sem_seg``:
    selected labels; ``ensemble_seg``: un-selected arg-max and confidence).
    The self-training term is :class:`SelfTraining`'s loss (cross-entropy
    of the student's logits, resized bilinearly to the input, over the
    selected pixels), so that CLST without its contrastive term is
    self-training with ensemble labels; the contrastive term
    (:class:`CentroidContrastiveLoss`) compares class centroids of the
    projected source features (ground truth) and target features
    (pseudo-labels) of the batch. Both target terms start after the same
    warm-up (``warmup_ratio`` of the schedule, as :class:`SelfTraining`'s):
    target labels are used once the network that makes them is trained.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        projection_head (dict): Config of the projection head (e.g.
            :class:`ProjectionHead`) applied to the centroid feature (see
            ``feature_source``); ``in_index`` / ``in_channels`` set to None
            take the decode head's (the classifier's input feature). None:
            no projection, the centroids are taken on that feature itself.
        feature_source (str): The feature the centroids are built on:
            'backbone' (``extract_feat``'s output at the level the decode
            head reads; DeepLabV2's classifier reads ResNet layer4 directly)
            or 'classifier_input' (the decode head's own feature map that
            its classifier ``conv_seg`` reads, before its dropout; for heads
            that fuse several levels, e.g. DAFormer's). Defaults to
            'backbone'.
        contrastive_loss (dict): Config of the centroid loss; its
            ``num_classes`` defaults to the decode head's.
        cl_weight (float): Weight of the contrastive term (0 turns it off).
        cl_target_labels (str): Target labels of the centroids:
            'ensemble' (the temporal ensemble's arg-max, from the hook) or
            'online' (arg-max of the student's current target prediction).
        cl_target_min_conf (float): Target pixels below this confidence are
            left out of the target centroids (0 keeps all).
        st_weight (float): Weight of the self-training term (0: off).
        warmup_ratio (float, optional): Both target terms (self-training
            and contrastive) start after this fraction of the run's
            ``max_iters`` (mmengine's message hub), the key and meaning of
            :class:`SelfTraining`'s, so a shortened schedule shortens the
            warm-up alike; overrides ``warmup_iters`` while training under
            a runner. Defaults to None.
        warmup_iters (int): The warm-up in iterations (used when
            ``warmup_ratio`` is None or no runner gives ``max_iters``).
            Defaults to 0.
        rampup_ratio (float): Length of Laine & Aila's sigmoid ramp-up of
            both terms' weights after the warm-up, as a fraction of
            ``max_iters`` (0: full weight at once). Defaults to 0.
        pseudo_label (dict): Selection of self-training pixels:
            ``dict(type='threshold', threshold=t)`` or
            ``dict(type='class_balanced', portion=p, max_threshold=None)``
            (for ensemble labels the hook computes per-class thresholds over
            the whole memory; for online labels over the batch).
        pseudo_label_source (str): 'ensemble' (the hook's memory) or
            'online' (a no-grad prediction of the current network, in eval
            mode, on the plain target batch).
        ensemble (dict): Memory knobs read by :class:`TemporalEnsembleHook`:
            ``momentum`` (weight of the old ensemble), ``memory_size`` (h, w)
            per image, ``memmap_dir`` (None: RAM) and ``input`` ('student':
            the step's own prediction on the augmented target; 'clean': an
            extra no-grad prediction on the plain target in eval mode).
        target_augment (dict, optional): Arguments of
            :class:`PhotometricAugment` for the student's target input; None
            turns it off.
        data_preprocessor (dict, optional): Config of the preprocessor.
        init_cfg (dict, optional): Initialisation config.
    """

    knob_ranges = {
        'cl_weight': '[0, inf)',
        'cl_target_min_conf': '[0, 1]',
        'st_weight': '[0, inf)',
        'warmup_ratio': '[0, 1) or None',
        'warmup_iters': 'int [0, inf)',
        'rampup_ratio': '[0, 1) or None',
        'pseudo_label.threshold': '[0, 1]',
        'pseudo_label.portion': '(0, 1]',
        'pseudo_label.max_threshold': '[0, 1] or None',
        'ensemble.momentum': '[0, 1)',
        'ensemble.memory_size.*': 'int [1, inf)',
        **{f'target_augment.{k}': v
           for k, v in PhotometricAugment.knob_ranges.items()},
    }

    def __init__(self,
                 segmentor: ConfigType,
                 projection_head: OptConfigType,
                 contrastive_loss: ConfigType,
                 feature_source: str = 'backbone',
                 cl_weight: float = 1.0,
                 cl_target_labels: str = 'ensemble',
                 cl_target_min_conf: float = 0.0,
                 st_weight: float = 1.0,
                 warmup_ratio: Optional[float] = None,
                 warmup_iters: int = 0,
                 rampup_ratio: float = 0.0,
                 pseudo_label: dict = dict(type='threshold', threshold=0.9),
                 pseudo_label_source: str = 'ensemble',
                 ensemble: dict = dict(momentum=0.6, memory_size=(64, 128)),
                 target_augment: Optional[dict] = dict(),
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(segmentor, data_preprocessor, init_cfg)
        for name, value in (('cl_target_labels', cl_target_labels),
                            ('pseudo_label_source', pseudo_label_source)):
            if value not in _LABEL_SOURCES:
                raise ValueError(f'CLST: {name} must be one of '
                                 f'{_LABEL_SOURCES}, got {value!r}')
        if int(warmup_iters) != warmup_iters or warmup_iters < 0:
            raise ValueError('CLST: warmup_iters must be an integer >= 0, '
                             f'got {warmup_iters!r}')
        for name, value in (('warmup_ratio', warmup_ratio),
                            ('rampup_ratio', rampup_ratio)):
            if value is not None and not 0 <= value < 1:
                raise ValueError(f'CLST: {name} must be in [0, 1), got '
                                 f'{value!r}')
        if feature_source not in _FEATURE_SOURCES:
            raise ValueError(f'CLST: feature_source must be one of '
                             f'{_FEATURE_SOURCES}, got {feature_source!r}')
        self.feature_source = feature_source
        self.ensemble_cfg = self._check_ensemble_cfg(ensemble)
        self.pseudo_label_cfg = check_pseudo_label_cfg(pseudo_label)
        if projection_head is None:
            # the centroids are taken on the level the decode head reads
            # (checked here, not at the first contrastive step)
            self.feature_level = 0 if feature_source == 'classifier_input' \
                else self._decode_level('without a projection head the '
                                        'centroids need a single level')
            self.projection_head = None
        else:
            self.feature_level = None
            self.projection_head = MODELS.build(
                self._fill_projection_cfg(projection_head))
        loss_cfg = dict(contrastive_loss)
        loss_cfg.setdefault('num_classes', self.num_classes)
        self.contrastive_loss = MODELS.build(loss_cfg)
        self.cl_weight = float(cl_weight)
        self.cl_target_labels = cl_target_labels
        self.cl_target_min_conf = float(cl_target_min_conf)
        self.st_weight = float(st_weight)
        self.warmup_ratio = warmup_ratio
        self.warmup_iters = int(warmup_iters)
        self.rampup_ratio = float(rampup_ratio or 0.0)
        self.pseudo_label_source = pseudo_label_source
        self.target_augment = (None if target_augment is None else
                               self._build_augment(target_augment))
        self.register_buffer('local_iter', torch.zeros((), dtype=torch.long))
        self._ensemble_feed: Optional[dict] = None

    @contextlib.contextmanager
    def _centroid_feature(self, feats: List[Tensor]):
        """Yields the feature list the centroids are built on: ``feats``
        itself ('backbone'), or a list that receives the decode head's
        classifier input while the block runs a forward pass of the head
        ('classifier_input')."""
        if self.feature_source == 'backbone':
            yield feats
            return
        with capture_classifier_input(self.segmentor.decode_head) as got:
            yield got

    def _decode_level(self, remedy: str) -> int:
        """The one ``extract_feat`` level the decode head reads (``remedy``
        ends the error when it reads several)."""
        in_index = self.segmentor.decode_head.in_index
        if not isinstance(in_index, int):
            raise ValueError(
                f'CLST: the decode head reads several levels ({in_index}); '
                f'{remedy}')
        return in_index

    def _fill_projection_cfg(self, cfg: dict) -> dict:
        """``in_index`` / ``in_channels`` left None mean the level the
        decode head reads."""
        cfg = dict(cfg)
        head = self.segmentor.decode_head
        if self.feature_source == 'classifier_input':
            # one map: the head's feature before its classifier
            if cfg.get('in_index') not in (None, 0):
                raise ValueError('CLST: with feature_source='
                                 "'classifier_input' projection_head."
                                 'in_index must be None or 0')
            cfg['in_index'] = 0
            if cfg.get('in_channels') is None:
                cfg['in_channels'] = head.channels
            return cfg
        if cfg.get('in_index') is None:
            cfg['in_index'] = self._decode_level(
                'set projection_head.in_index')
        if cfg.get('in_channels') is None:
            if cfg['in_index'] != head.in_index or not isinstance(
                    head.in_channels, int):
                raise ValueError(
                    'CLST: projection_head.in_channels must be given when it '
                    'reads another feature level than the decode head')
            cfg['in_channels'] = head.in_channels
        return cfg

    @staticmethod
    def _check_ensemble_cfg(cfg: dict) -> dict:
        cfg = dict(cfg)
        unknown = set(cfg) - {'momentum', 'memory_size', 'memmap_dir',
                              'input'}
        if unknown:
            raise ValueError(f'CLST: unknown ensemble keys {sorted(unknown)}'
                             '; expected momentum, memory_size, memmap_dir, '
                             'input')
        cfg.setdefault('memmap_dir', None)
        cfg.setdefault('input', 'student')
        if cfg['input'] not in ('student', 'clean'):
            raise ValueError("CLST: ensemble.input must be 'student' or "
                             f"'clean', got {cfg['input']!r}")
        if not 0 <= cfg.get('momentum', -1) < 1:
            raise ValueError('CLST: ensemble.momentum must be given, in '
                             '[0, 1)')
        size = cfg.get('memory_size')
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or min(size) < 1):
            raise ValueError('CLST: ensemble.memory_size must be (h, w), got '
                             f'{size!r}')
        cfg['memory_size'] = (int(size[0]), int(size[1]))
        return cfg

    def _build_augment(self, cfg: dict) -> PhotometricAugment:
        mean = getattr(self.data_preprocessor, 'mean', None)
        std = getattr(self.data_preprocessor, 'std', None)
        if mean is None or std is None:
            raise ValueError('CLST: target_augment needs a data preprocessor '
                             'with mean and std (e.g. UDADataPreProcessor)')
        return PhotometricAugment(mean.flatten().tolist(),
                                  std.flatten().tolist(), **cfg)

    # -- schedule ----------------------------------------------------------
    @staticmethod
    def _max_iters() -> Optional[int]:
        return MessageHub.get_current_instance().get_info('max_iters')

    def warmup_end(self) -> int:
        """The first iteration of the target terms (as
        :meth:`SelfTraining.warmup_end`)."""
        max_iters = self._max_iters()
        if self.warmup_ratio is None or not max_iters:
            return self.warmup_iters
        return int(round(self.warmup_ratio * max_iters))

    def rampup_length(self) -> int:
        """Iterations of the sigmoid ramp-up after the warm-up."""
        max_iters = self._max_iters()
        if not self.rampup_ratio or not max_iters:
            return 0
        return int(round(self.rampup_ratio * max_iters))

    def warmups(self) -> Dict[str, int]:
        """First iteration of each active target term."""
        start = self.warmup_end()
        out = {}
        if self.st_weight > 0:
            out['self-training'] = start
        if self.cl_weight > 0:
            out['contrastive term'] = start
        return out

    def st_factor(self, step: int) -> float:
        """Weight of the self-training term at iteration ``step``."""
        return self.st_weight * sigmoid_rampup(step, self.warmup_end(),
                                               self.rampup_length())

    def cl_factor(self, step: int) -> float:
        """Weight of the contrastive term at iteration ``step``."""
        return self.cl_weight * sigmoid_rampup(step, self.warmup_end(),
                                               self.rampup_length())

    @property
    def needs_ensemble(self) -> bool:
        """Whether any term reads the temporal ensemble."""
        return ((self.st_weight > 0 and self.pseudo_label_source == 'ensemble')
                or (self.cl_weight > 0
                    and self.cl_target_labels == 'ensemble'))

    # -- hook interface ----------------------------------------------------
    def wants_ensemble_labels(self) -> bool:
        """Whether the coming step (``local_iter``) reads the ensemble's
        pseudo-labels (the hook skips writing them during the warm-up)."""
        step = int(self.local_iter)
        return ((self.pseudo_label_source == 'ensemble'
                 and self.st_factor(step) > 0)
                or (self.cl_target_labels == 'ensemble'
                    and self.cl_factor(step) > 0))

    def pop_ensemble_feed(self) -> Optional[dict]:
        """The last step's target predictions for the ensemble hook:
        ``dict(probs=(N, C, h, w) detached, indices=[int], geometry=
        [AugGeometry], input_shape=(H, W))``, or None. Cleared on read."""
        feed, self._ensemble_feed = self._ensemble_feed, None
        return feed

    # -- losses ------------------------------------------------------------
    def _stack(self, samples: SampleList, field: str, key: str,
               shape: Sequence[int], pad: float) -> Tensor:
        maps = []
        for s in samples:
            if field not in s:
                raise KeyError(
                    f'CLST: target samples carry no {field!r}; ensemble '
                    'pseudo-labels need TemporalEnsembleHook in '
                    'custom_hooks (or use the online label sources)')
            maps.append(_pad_to(getattr(s, field).get(key), shape, pad))
        return torch.cat(maps).to(self.local_iter.device)

    @torch.no_grad()
    def _plain_target_logits(self, target_inputs: Tensor) -> Tensor:
        """Logits of the current network in eval mode on the plain target
        batch, at the decode head's output resolution."""
        was_training = self.segmentor.training
        self.segmentor.eval()
        logits = self.segmentor.decode_head.forward(
            self.segmentor.extract_feat(target_inputs))
        self.segmentor.train(was_training)
        return logits.float()

    def _online_pseudo_labels(self, target_inputs: Tensor) -> Tensor:
        """Labels from the current network as :class:`SelfTraining` makes
        them: logits resized bilinearly to the input, softmax, selection."""
        probs = resize(self._plain_target_logits(target_inputs),
                       size=target_inputs.shape[2:], mode='bilinear',
                       align_corners=self.segmentor.align_corners).softmax(1)
        cfg = self.pseudo_label_cfg
        if cfg['type'] == 'threshold':
            return confidence_threshold(probs, cfg['threshold'])[0]
        return class_balanced(probs, cfg['portion'], cfg['max_threshold'])[0]

    def _self_training_loss(self, logits: Tensor, target_inputs: Tensor,
                            samples: SampleList, weight: float) -> dict:
        """Cross-entropy of the student's logits, resized bilinearly to the
        input, over the pixels with a pseudo-label: the loss of
        :class:`SelfTraining`."""
        shape = target_inputs.shape[2:]
        if self.pseudo_label_source == 'ensemble':
            labels = self._stack(samples, 'gt_sem_seg', 'data', shape, 255)
            labels = labels.long()
        else:
            labels = self._online_pseudo_labels(target_inputs)
        self.record_pseudo_labels(labels, samples)  # diagnostics only
        logits = resize(logits, size=shape, mode='bilinear',
                        align_corners=self.segmentor.align_corners)
        return {
            'st.loss_ce': weight * pseudo_label_ce(logits, labels),
            'st.kept': (labels != 255).float().mean()
        }

    def _target_centroid_labels(self, logits: Tensor, samples: SampleList,
                                input_shape: Sequence[int],
                                size: Sequence[int]) -> Tensor:
        if self.cl_target_labels == 'ensemble':
            labels = self._stack(samples, 'ensemble_seg', 'label',
                                 input_shape, 255).long()
            conf = self._stack(samples, 'ensemble_seg', 'conf', input_shape,
                               0)
        else:
            conf, labels = logits.detach().float().softmax(1).max(1)
        labels = labels.masked_fill(conf < self.cl_target_min_conf, 255)
        return _nearest(labels, size)

    def _contrastive_loss(self, feats_s: List[Tensor], data_samples,
                          feats_t: List[Tensor], logits_t: Tensor,
                          target_samples: SampleList,
                          input_shape: Sequence[int], weight: float) -> dict:
        if self.projection_head is None:
            emb_s = feats_s[self.feature_level]
            emb_t = feats_t[self.feature_level]
        else:
            emb_s = self.projection_head(feats_s)
            emb_t = self.projection_head(feats_t)
        src_labels = torch.cat([
            _pad_to(s.gt_sem_seg.data, input_shape, 255)
            for s in data_samples
        ]).long()
        src_labels = _nearest(src_labels, emb_s.shape[-2:])
        tgt_labels = self._target_centroid_labels(logits_t, target_samples,
                                                  input_shape,
                                                  emb_t.shape[-2:])
        # centroids in float32 under mixed precision: the memory centroids
        # are float32 buffers, and a class mean over many pixels loses
        # digits in float16
        with torch.autocast(emb_s.device.type, enabled=False):
            out = self.contrastive_loss(emb_s.float(), src_labels,
                                        emb_t.float(), tgt_labels)
        losses = {
            'cl.loss': out['loss'] * weight,
            'cl.nce': out['loss'].detach(),  # before the schedule's weight
            'cl.pos_sim': out['pos_sim'],
            'cl.neg_sim': out['neg_sim'],
            'cl.anchors': out['anchors'],
        }
        losses.update(self._class_distances())
        return losses

    def _class_distances(self) -> Dict[str, Tensor]:
        """``cl.dist.<class>``: cosine distance between the source and
        target memory centroids of each class seen in both domains (one
        device-to-host copy; the logger averages them over its window).
        Classes are named by the run's ``dataset_meta`` (spaces as '_'),
        else by index."""
        dist = self.contrastive_loss.class_distances().cpu()
        meta = MessageHub.get_current_instance().get_info('dataset_meta')
        names = list((meta or {}).get('classes') or [])
        if len(names) != len(dist):
            names = [str(i) for i in range(len(dist))]
        return {
            f"cl.dist.{str(name).replace(' ', '_')}": d
            for name, d in zip(names, dist) if torch.isfinite(d)
        }

    def _leave_ensemble_feed(self, logits_t: Tensor, target_inputs: Tensor,
                             samples: SampleList) -> None:
        if self.ensemble_cfg['input'] == 'clean':
            probs = self._plain_target_logits(target_inputs).softmax(1)
        else:
            probs = logits_t.detach().float().softmax(1)
        self._ensemble_feed = dict(
            probs=probs,
            indices=[int(s.metainfo['sample_idx']) for s in samples],
            geometry=[AugGeometry.from_meta(s.metainfo) for s in samples],
            input_shape=tuple(target_inputs.shape[2:]))

    def loss(self,
             inputs: Tensor,
             data_samples: SampleList,
             target_inputs: Optional[Tensor] = None,
             target_data_samples: Optional[SampleList] = None) -> dict:
        """Losses of one training step; advances the iteration counter.

        Returns:
            dict[str, Tensor]: ``decode.*`` / ``aux.*`` (source), and when
            the target half is given ``st.loss_ce``, ``st.kept`` (fraction
            of target pixels with a pseudo-label), ``st.weight``,
            ``cl.loss``, ``cl.nce`` (the InfoNCE before ``cl_weight`` and
            the ramp), ``cl.pos_sim``, ``cl.neg_sim``, ``cl.anchors``,
            ``cl.dist.<class>`` (source-target distance of the memory
            centroids), ``cl.weight``.
        """
        step = int(self.local_iter)
        self.local_iter += 1
        seg = self.segmentor
        feats_s = seg.extract_feat(inputs)
        with self._centroid_feature(feats_s) as cfeat_s:
            losses = seg._decode_head_forward_train(feats_s, data_samples)
        if seg.with_auxiliary_head:
            losses.update(seg._auxiliary_head_forward_train(
                feats_s, data_samples))
        if target_inputs is None:
            return losses

        student_in = (self.target_augment(target_inputs)
                      if self.target_augment is not None else target_inputs)
        feats_t = seg.extract_feat(student_in)
        with self._centroid_feature(feats_t) as cfeat_t:
            logits_t = seg.decode_head.forward(feats_t)
        self._leave_ensemble_feed(logits_t, target_inputs,
                                  target_data_samples)
        zero = logits_t.new_zeros(())

        st_w = self.st_factor(step)
        losses['st.weight'] = zero + st_w
        if st_w > 0:
            losses.update(self._self_training_loss(
                logits_t, target_inputs, target_data_samples, st_w))

        cl_w = self.cl_factor(step)
        losses['cl.weight'] = zero + cl_w
        if cl_w > 0:
            losses.update(self._contrastive_loss(
                cfeat_s, data_samples, cfeat_t, logits_t,
                target_data_samples, target_inputs.shape[2:], cl_w))
        elif self.projection_head is not None:
            # keeps the projection head in the graph: DDP (without
            # find_unused_parameters) fails on parameters without a gradient
            losses['cl.loss'] = sum(
                p.sum() for p in self.projection_head.parameters()) * 0.
        return losses
