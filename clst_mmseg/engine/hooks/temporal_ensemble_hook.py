"""Temporal ensemble of target predictions and its pseudo-labels (CLST)."""
import os
import os.path as osp
from typing import List, Optional, Tuple

import torch
from mmengine.dist import all_gather, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.structures import PixelData
from mmseg.registry import HOOKS
from torch import Tensor

from clst_mmseg.models.utils.ensemble_memory import (AugGeometry,
                                                     CompactEnsembleMemory,
                                                     sample_prediction)

CHECKPOINT_KEY = 'temporal_ensemble'

#: Transforms that lose what the ensemble needs -> the one to use instead.
_UNRECORDED = {
    'RandomCrop': ('does not record its crop box', 'RecordedRandomCrop '
                   '(same arguments)'),
    'PackSegInputs': ('drops the sample index and crop box', 'PackUDAInputs'),
}
#: Geometric transforms the ensemble can undo, in the order it needs.
_GEOMETRY = dict(Resize='resize', RandomResize='resize',
                 RandomChoiceResize='resize', RecordedRandomCrop='crop',
                 RandomFlip='flip')
_ORDER = ('resize', 'crop', 'flip')
#: Geometric transforms it cannot undo.
_UNSUPPORTED = ('RandomRotate', 'RandomRotFlip', 'RandomMosaic',
                'RandomAffine')


def _type_name(t) -> str:
    return t.__name__ if isinstance(t, type) else str(t).split('.')[-1]


def _pipelines(node, key: str):
    """(config key, pipeline) of a dataset config and of the datasets it
    wraps."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get('pipeline'), (list, tuple)):
        yield f'{key}.pipeline', node['pipeline']
    yield from _pipelines(node.get('dataset'), f'{key}.dataset')
    for i, sub in enumerate(node.get('datasets') or []):
        yield from _pipelines(sub, f'{key}.datasets.{i}')


def check_ensemble_pipeline(cfg) -> None:
    """Fail before training, with one line naming the transform to use,
    when a config with :class:`TemporalEnsembleHook` has a target pipeline
    that does not record the geometry the ensemble needs: mmseg's
    ``RandomCrop`` (no crop box: the memory would be updated misaligned,
    silently), ``PackSegInputs`` (no sample index), a last transform other
    than ``PackUDAInputs``, a rotation or mosaic, or resize / crop / flip in
    another order than resize -> crop -> flip.

    Args:
        cfg (Config | dict): The training config.

    Raises:
        ValueError: The first problem found.
    """
    hooks = cfg.get('custom_hooks') or []
    if not any(isinstance(h, dict) and _type_name(h.get('type')) ==
               'TemporalEnsembleHook' for h in hooks):
        return
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    for key, pipeline in _pipelines(dataset.get('target'),
                                    'train_dataloader.dataset.target'):
        types = [_type_name(t.get('type')) for t in pipeline]
        last = None
        for i, name in enumerate(types):
            where = f'{key}[{i}]: {name}'
            if name in _UNRECORDED:
                what, use = _UNRECORDED[name]
                raise ValueError(f'{where} {what}, which TemporalEnsembleHook'
                                 f' needs; use {use}')
            if name in _UNSUPPORTED:
                raise ValueError(f'{where} is a geometric transform '
                                 'TemporalEnsembleHook cannot undo; it maps '
                                 'resize -> RecordedRandomCrop -> RandomFlip'
                                 ' only')
            kind = _GEOMETRY.get(name)
            if kind and last and _ORDER.index(kind) < _ORDER.index(last):
                raise ValueError(f'{where} comes after a {last}; '
                                 'TemporalEnsembleHook needs resize -> crop '
                                 '-> flip in this order')
            last = kind or last
        if not types or types[-1] != 'PackUDAInputs':
            raise ValueError(f'{key}: must end with PackUDAInputs (it keeps '
                             'the sample index and geometry '
                             'TemporalEnsembleHook needs), got '
                             f'{types[-1] if types else "an empty pipeline"}')


@HOOKS.register_module()
class TemporalEnsembleHook(Hook):
    """Keeps a compact per-image EMA of the network's target predictions
    (:class:`CompactEnsembleMemory`, 2 bytes per stored pixel, on the CPU or
    memory-mapped) and turns it into pseudo-labels.

    The knobs live in the model (``model.ensemble_cfg``: momentum,
    memory_size, memmap_dir; ``model.pseudo_label_cfg``: the selection), so
    that a method's config fragment holds all of them. Every iteration:

    - ``before_train_iter``: each target sample of the batch gets
      ``gt_sem_seg`` (the memory's arg-max where selected by the confidence
      threshold or the class-balanced per-class thresholds computed over the
      whole memory, 255 elsewhere and where nothing is stored) and
      ``ensemble_seg`` (``label``: arg-max, 255 where nothing is stored;
      ``conf``: its confidence), read in the image's augmented frame (scale,
      crop box, flip from its meta information) at input resolution with
      :class:`SelfTraining`'s interpolation (bilinear, as logits), so CLST
      without its contrastive term is self-training with ensemble labels.
      Skipped while the model's warm-up lasts (``wants_ensemble_labels``).
    - ``after_train_iter``: the step's target softmax (left by the model,
      see ``CLST.pop_ensemble_feed``) is resampled into each image's frame
      and folded into the memory. Under DDP the (index, prediction,
      geometry) of every rank are all-gathered and every rank applies all
      updates in rank order, so the memories stay identical.

    The memory (and the class-balanced thresholds) are saved into every
    checkpoint under ``'temporal_ensemble'`` as plain tensors and restored
    on resume.

    Args:
        threshold_interval (int): Recompute the class-balanced thresholds
            every this many iterations (they are a histogram pass over the
            memory). Defaults to 1.
        log_interval (int): Log the filled fraction and mean confidence of
            the memory every this many iterations. Defaults to 50.
    """

    priority = 'NORMAL'  # after_train_iter before CheckpointHook (VERY_LOW)

    def __init__(self, threshold_interval: int = 1,
                 log_interval: int = 50) -> None:
        if threshold_interval < 1 or log_interval < 1:
            raise ValueError('TemporalEnsembleHook: threshold_interval and '
                             'log_interval must be >= 1')
        self.threshold_interval = int(threshold_interval)
        self.log_interval = int(log_interval)
        self.memory: Optional[CompactEnsembleMemory] = None
        self.thresholds: Optional[Tensor] = None
        self._pending: Optional[dict] = None

    # -- set-up ------------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        for attr in ('ensemble_cfg', 'pseudo_label_cfg', 'pop_ensemble_feed'):
            if not hasattr(model, attr):
                raise TypeError(
                    'TemporalEnsembleHook: the model must provide '
                    f'{attr!r} (e.g. type=CLST), got {type(model).__name__}')
        return model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        dataset = runner.train_dataloader.dataset
        if not hasattr(dataset, 'target'):
            raise TypeError('TemporalEnsembleHook: the train dataset must be '
                            'a UDADataset (with a .target dataset), got '
                            f'{type(dataset).__name__}')
        cfg = model.ensemble_cfg
        filename = None
        if cfg.get('memmap_dir'):
            os.makedirs(cfg['memmap_dir'], exist_ok=True)
            filename = osp.join(cfg['memmap_dir'],
                                f'temporal_ensemble_rank{get_rank()}.int16')
        self.memory = CompactEnsembleMemory(
            len(dataset.target), cfg['memory_size'], model.num_classes,
            cfg['momentum'], filename=filename)
        if self._pending is not None:
            self._restore(self._pending)
            self._pending = None
        runner.logger.info(
            f'TemporalEnsembleHook: {self.memory.num_images} target images x '
            f'{self.memory.size} cells, {self.memory.nbytes / 2**20:.1f} MiB '
            f'({"memory-mapped: " + filename if filename else "RAM"})')

    # -- pseudo-labels -----------------------------------------------------
    def _update_thresholds(self, runner, cfg: dict) -> None:
        if cfg['type'] != 'class_balanced':
            self.thresholds = None
            return
        if (self.thresholds is None
                or runner.iter % self.threshold_interval == 0):
            self.thresholds = self.memory.class_thresholds(
                cfg['portion'], cfg.get('max_threshold'))

    def pseudo_labels(self, indices: List[int], geos: List[AugGeometry],
                      shape: Tuple[int, int], cfg: dict,
                      device=None) -> Tuple[Tensor, Tensor, Tensor]:
        """Read a batch of images' memories in their augmented frames, at
        input resolution, and select pseudo-labels as
        :class:`SelfTraining` selects its network's (see
        :meth:`CompactEnsembleMemory.read_in_aug_frame`).

        Args:
            indices (list[int]): Target image indices.
            geos (list[AugGeometry]): Their augmentations.
            shape (tuple[int, int]): (H, W) frame to fill.
            cfg (dict): The selection (``model.pseudo_label_cfg``).
            device (torch.device, optional): Where to compute.

        Returns:
            tuple[Tensor, Tensor, Tensor]: Selected labels (N, H, W) long
            (255 where not selected), arg-max labels (255 where nothing is
            stored) and confidences (0 there).
        """
        probs, stored = self.memory.read_in_aug_frame(indices, geos, shape,
                                                      device)
        conf, argmax = probs.max(dim=1)
        if cfg['type'] == 'threshold':
            # = confidence_threshold(probs, threshold), SelfTraining's
            selected = argmax.masked_fill(conf < cfg['threshold'], 255)
        else:
            # the thresholds are levels of the quantised confidences: a
            # value interpolated to within half a level below one counts
            th = self.thresholds.to(conf.device) - 0.5 / self.memory.levels
            selected = argmax.masked_fill(conf < th[argmax], 255)
        selected = selected.masked_fill(~stored, 255)
        return (selected, argmax.masked_fill(~stored, 255),
                conf * stored)

    @staticmethod
    def _device(model):
        params = getattr(model, 'parameters', None)
        if not callable(params):
            return None
        first = next(params(), None)
        return None if first is None else first.device

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        model = self._model(runner)
        if (self.memory is None or not model.needs_ensemble
                or not data_batch or 'target_data_samples' not in data_batch):
            return
        wants = getattr(model, 'wants_ensemble_labels', None)
        if wants is not None and not wants():
            return  # warm-up: no term reads the labels yet
        cfg = model.pseudo_label_cfg
        self._update_thresholds(runner, cfg)
        samples = data_batch['target_data_samples']
        metas = [s.metainfo for s in samples]
        geos = [AugGeometry.from_meta(m) for m in metas]
        shape = (max(g.img_shape[0] for g in geos),
                 max(g.img_shape[1] for g in geos))
        selected, argmax, conf = self.pseudo_labels(
            [int(m['sample_idx']) for m in metas], geos, shape, cfg,
            self._device(model))
        for i, (sample, geo) in enumerate(zip(samples, geos)):
            h, w = geo.img_shape
            sample.gt_sem_seg = PixelData(data=selected[i:i + 1, :h, :w])
            sample.ensemble_seg = PixelData(label=argmax[i:i + 1, :h, :w],
                                            conf=conf[i:i + 1, :h, :w])

    # -- ensemble update ---------------------------------------------------
    @staticmethod
    def _gather(feed: dict) -> List[Tuple[int, AugGeometry, Tensor,
                                          Tuple[int, int]]]:
        """(index, geometry, probs on the CPU, input shape) of every rank's
        images, in rank order."""
        probs = feed['probs']
        meta = torch.stack([
            torch.cat([torch.tensor([float(i)], dtype=torch.float64),
                       g.to_tensor(),
                       torch.tensor(feed['input_shape'], dtype=torch.float64)])
            for i, g in zip(feed['indices'], feed['geometry'])
        ])
        if get_world_size() > 1:
            n = torch.tensor([probs.shape[0]], device=probs.device)
            counts = [int(c) for c in all_gather(n)]
            pad = max(counts) - probs.shape[0]
            if pad:
                probs = torch.cat([probs, probs.new_zeros(pad,
                                                          *probs.shape[1:])])
                meta = torch.cat([meta, meta.new_zeros(pad, meta.shape[1])])
            all_probs = all_gather(probs.contiguous())
            all_meta = all_gather(meta.to(probs.device))
            probs = torch.cat([p[:c] for p, c in zip(all_probs, counts)])
            meta = torch.cat([m[:c] for m, c in zip(all_meta, counts)])
        probs, meta = probs.cpu().float(), meta.cpu()
        return [(int(m[0]), AugGeometry.from_tensor(m[1:10]), p,
                 (int(m[10]), int(m[11]))) for p, m in zip(probs, meta)]

    def update(self, feed: dict) -> None:
        """Fold one step's predictions (of every rank) into the memory."""
        for index, geo, probs, input_shape in self._gather(feed):
            q, valid = sample_prediction(probs, geo, self.memory.size,
                                         input_shape)
            self.memory.update(index, q, valid)

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        model = self._model(runner)
        feed = model.pop_ensemble_feed()
        if self.memory is None or feed is None or not model.needs_ensemble:
            return
        self.update(feed)
        if (runner.iter + 1) % self.log_interval == 0:
            _, conf, stored = self.memory.decode(self.memory.codes)
            filled = stored.float().mean()
            runner.message_hub.update_scalar('train/ens.filled',
                                             float(filled))
            runner.message_hub.update_scalar(
                'train/ens.conf', float(conf[stored].mean())
                if filled > 0 else 0.0)

    # -- checkpoints -------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.memory is None:
            return
        checkpoint[CHECKPOINT_KEY] = dict(
            memory=self.memory.state_dict(),
            thresholds=(None if self.thresholds is None else
                        self.thresholds.clone()))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            return
        if self.memory is None:
            self._pending = state
        else:
            self._restore(state)

    def _restore(self, state: dict) -> None:
        self.memory.load_state_dict(state['memory'])
        self.thresholds = state.get('thresholds')
