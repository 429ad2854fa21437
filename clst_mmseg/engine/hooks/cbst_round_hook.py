"""The rounds of CBST: label the whole target set, then train on it."""
import time
from typing import List, Optional

import torch
from mmengine.dist import (all_gather_object, broadcast, get_rank,
                           get_world_size)
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.structures import PixelData
from mmseg.registry import HOOKS
from torch import Tensor

from clst_mmseg.engine.target_predictions import iter_target_probs, shard
from clst_mmseg.models.utils.ensemble_memory import AugGeometry
from clst_mmseg.models.utils.pseudo_label import (class_normalised_labels,
                                                  portion_thresholds,
                                                  subsampled_confidences)
from clst_mmseg.models.utils.pseudo_label_store import PseudoLabelStore

CHECKPOINT_KEY = 'cbst_rounds'


@HOOKS.register_module()
class CBSTRoundHook(Hook):
    """Runs the rounds of a :class:`CBST` model.

    ``before_train_iter`` of the first iteration of round ``r`` (the model's
    ``round_at``): the segmentor, in eval mode, predicts every image of the
    target train set through ``pipeline`` (:func:`iter_target_probs`); the
    per-class confidence samples of all images give the thresholds ``k_c``
    (:func:`portion_thresholds`, the model's policy and the round's
    portion); a second pass over the set labels every image with
    :func:`class_normalised_labels` and keeps the maps, PNG-compressed, in a
    :class:`PseudoLabelStore` (two passes instead of keeping every
    probability map: the thresholds need the whole set first). Every
    iteration of a round, each target sample of the batch gets its map in
    its augmented frame as ``gt_sem_seg`` (scale, crop box, flip from its
    meta information).

    Under DDP each rank predicts a share of the images with rank 0's
    buffers (BN statistics, which mmengine's DDP leaves per rank; restored
    after labelling) and the parameters, equal on every rank; the confidence
    samples and the encoded maps are all-gathered, so every rank holds the
    same thresholds and labels, those one process computes over the whole
    set. The round, the thresholds and the maps are
    saved into every checkpoint under ``'cbst_rounds'`` (plain tensors) and
    restored on resume, so a resumed run continues the round it was in
    without labelling again.

    Args:
        pipeline (list, optional): Labelling pipeline, deterministic (load,
            optionally a fixed ``Resize``, ``PackUDAInputs``). None: the
            image as loaded.
        label_scale (float, optional): Size of the kept maps relative to the
            image's own frame; None: the labelling input's size.
        batch_size (int): Images per forward pass while labelling.
            Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self,
                 pipeline: Optional[list] = None,
                 label_scale: Optional[float] = None,
                 batch_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError('CBSTRoundHook: batch_size must be >= 1, got '
                             f'{batch_size}')
        if label_scale is not None and label_scale <= 0:
            raise ValueError('CBSTRoundHook: label_scale must be > 0, got '
                             f'{label_scale}')
        self.pipeline = pipeline
        self.label_scale = label_scale
        self.batch_size = int(batch_size)
        self.store: Optional[PseudoLabelStore] = None
        self.round = -1
        self.thresholds: Optional[Tensor] = None
        self._pending: Optional[dict] = None

    # -- set-up ------------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        for attr in ('round_at', 'round_portion', 'pseudo_cfg'):
            if not hasattr(model, attr):
                raise TypeError(
                    'CBSTRoundHook: the model must provide '
                    f'{attr!r} (type=CBST), got {type(model).__name__}')
        return model

    @staticmethod
    def _target(runner):
        dataset = runner.train_dataloader.dataset
        if not hasattr(dataset, 'target'):
            raise TypeError('CBSTRoundHook: the train dataset must be a '
                            'UDADataset (with a .target dataset), got '
                            f'{type(dataset).__name__}')
        return dataset.target

    def before_train(self, runner) -> None:
        model = self._model(runner)
        starts = model.round_starts()
        if len(set(starts)) < len(starts):
            raise ValueError(
                f'CBST: {model.num_rounds} rounds do not fit in the '
                f'{runner.max_iters - starts[0]} iterations after the warm-up'
                f' (max_iters {runner.max_iters}, rounds at {starts}); '
                'lower model.num_rounds or the warm-up')
        if starts[0] >= runner.max_iters:
            runner.logger.warning(
                f'CBST: the warm-up ({starts[0]} iterations) fills the run '
                f'(max_iters {runner.max_iters}): no round will start')
        self.store = PseudoLabelStore(len(self._target(runner)))
        if self._pending is not None:
            self._restore(self._pending)
            self._pending = None

    # -- a round -----------------------------------------------------------
    def _predict(self, model, target, flip: bool):
        return iter_target_probs(
            model, target, shard(len(target), get_rank(), get_world_size()),
            pipeline=self.pipeline, flip=flip, batch_size=self.batch_size,
            label_scale=self.label_scale)

    def label_round(self, model, target, r: int) -> dict:
        """Label the whole target set for round ``r`` (fills the store).

        Returns:
            dict: ``thresholds`` (C,), ``portion``, ``labelled`` (fraction of
            pixels with a label) and ``class_fractions`` (C,) (fraction of
            pixels labelled as each class).
        """
        cfg = model.pseudo_cfg
        num_classes = model.num_classes
        portion = model.round_portion(r)
        seg = model.segmentor
        own_buffers = None
        if get_world_size() > 1:
            # BN running statistics differ between ranks (mmengine's DDP
            # does not broadcast buffers): label with rank 0's, the model
            # that is checkpointed, and give each rank its own back after
            own_buffers = [b.clone() for b in seg.buffers()]
            for buf in seg.buffers():
                broadcast(buf, src=0)
        was_training = seg.training
        seg.eval()
        try:
            samples: List[List[Tensor]] = [[] for _ in range(num_classes)]
            for _, probs in self._predict(model, target, cfg['flip']):
                conf, labels = probs.max(0)
                for c, s in enumerate(subsampled_confidences(
                        conf, labels, num_classes, cfg['ds_rate'])):
                    samples[c].append(s)
            local = [torch.cat(s) if s else torch.zeros(0) for s in samples]
            ranks = (all_gather_object(local) if get_world_size() > 1 else
                     [local])
            pooled = [torch.cat([g[c] for g in ranks])
                      for c in range(num_classes)]
            thresholds = portion_thresholds(pooled, portion, cfg['policy'])

            encoded = {}
            counts = torch.zeros(num_classes + 1, dtype=torch.long)
            for idx, probs in self._predict(model, target, cfg['flip']):
                labels = class_normalised_labels(probs, thresholds).cpu()
                encoded[idx] = PseudoLabelStore.encode(labels)
                counts += torch.bincount(
                    labels.flatten().clamp(max=num_classes),
                    minlength=num_classes + 1)
        finally:
            seg.train(was_training)
            if own_buffers is not None:
                for buf, own in zip(seg.buffers(), own_buffers):
                    buf.copy_(own)
        if get_world_size() > 1:
            gathered = all_gather_object((encoded, counts))
            encoded = {k: v for e, _ in gathered for k, v in e.items()}
            counts = sum(c for _, c in gathered)
        self.store.clear()
        for idx, buf in encoded.items():
            self.store.put_encoded(idx, buf)
        self.round = r
        self.thresholds = thresholds
        total = max(int(counts.sum()), 1)
        return dict(thresholds=thresholds, portion=portion,
                    labelled=1 - float(counts[-1]) / total,
                    class_fractions=counts[:-1].double() / total)

    def _run_round(self, runner, model, r: int) -> None:
        start = time.time()
        target = self._target(runner)
        stats = self.label_round(model, target, r)
        model.cb_thresholds.copy_(stats['thresholds'])
        names = (getattr(target, 'metainfo', None) or {}).get('classes') or \
            [str(c) for c in range(model.num_classes)]
        per_class = ', '.join(
            f'{n} {k:.3f} ({f:.1%})' for n, k, f in zip(
                names, stats['thresholds'].tolist(),
                stats['class_fractions'].tolist()))
        runner.logger.info(
            f'CBST round {r} at iteration {runner.iter}: portion '
            f'{stats["portion"]:.3f}, {model.pseudo_cfg["policy"]} '
            f'thresholds; {stats["labelled"]:.1%} of target pixels labelled '
            f'({self.store.nbytes / 2**20:.1f} MiB of maps, '
            f'{time.time() - start:.1f} s). k_c (share labelled): '
            f'{per_class}')
        hub = runner.message_hub
        hub.update_scalar('train/cbst.round', float(r))
        hub.update_scalar('train/cbst.portion', float(stats['portion']))
        hub.update_scalar('train/cbst.labelled', float(stats['labelled']))

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        model = self._model(runner)
        r = model.round_at(runner.iter)
        if r is None or self.store is None:
            return
        if r != self.round:
            self._run_round(runner, model, r)
        if not data_batch or 'target_data_samples' not in data_batch:
            return
        for sample in data_batch['target_data_samples']:
            meta = sample.metainfo
            labels = self.store.read(int(meta['sample_idx']),
                                     AugGeometry.from_meta(meta))
            sample.gt_sem_seg = PixelData(data=labels[None])

    # -- checkpoints -------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.store is None:
            return
        checkpoint[CHECKPOINT_KEY] = dict(
            round=self.round,
            thresholds=(None if self.thresholds is None else
                        self.thresholds.clone()),
            labels=self.store.state_dict())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            return
        if self.store is None:
            self._pending = state
        else:
            self._restore(state)

    def _restore(self, state: dict) -> None:
        self.store.load_state_dict(state['labels'])
        self.round = int(state['round'])
        self.thresholds = state.get('thresholds')
