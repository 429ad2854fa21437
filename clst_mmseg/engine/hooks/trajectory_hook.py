"""A run's checkpoint trajectory: the target-val score and label-free
selection criteria at evenly spaced iterations, for the protocol study of
``tools/benchmark.py`` (how much a reported gain owes to picking the
checkpoint)."""
import copy
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner.utils import calc_dynamic_intervals
from mmseg.registry import DATASETS, HOOKS, METRICS
from torch.utils.data import DataLoader

from clst_mmseg.datasets.cached_batches import CachedBatches
from clst_mmseg.evaluation.label_free import LabelFreeCriteria, agreement
from .split_title_hook import set_split_title, split_title

FILENAME = 'trajectory.json'


def validation_interval(max_iters: int, num_points: int) -> int:
    """Iterations between two trajectory points (validations)."""
    return max(1, max_iters // num_points)


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


# transforms that read or need the labels: none of them may run on the
# target images the label-free criteria see
LABEL_TRANSFORMS = ('LoadAnnotations', 'CachedLoadAnnotations',
                    'ResizeLabelsForEval')


def _without_labels(pipeline: List[dict]) -> List[dict]:
    """A pipeline that does not load annotations (the label-free criteria
    must never read target labels), nor transform them (e.g. DACS's
    ``ResizeLabelsForEval``, which needs them), and keeps each image's
    dataset index (``PackUDAInputs``: the agreement criterion reads CLST's
    per-image ensemble memory by ``sample_idx``)."""
    return [dict(copy.deepcopy(t), type='PackUDAInputs')
            if t.get('type') == 'PackSegInputs' else copy.deepcopy(t)
            for t in pipeline if t.get('type') not in LABEL_TRANSFORMS]


def first_images(indices, n: int):
    """The dataset ``indices`` of the first ``n`` images of a dataset
    config whose own ``indices`` (None: all, an int: the first k, a list)
    already select a subset: the criteria read no image the training does
    not see (a per-image memory covers only those)."""
    if indices is None:
        return n
    if isinstance(indices, int):
        return min(indices, n)
    return list(indices)[:n]


@HOOKS.register_module()
class CheckpointTrajectoryHook(Hook):
    """Records, at ``num_points`` evenly spaced iterations, the target-val
    metrics and label-free criteria of the current network into
    ``<work_dir>/trajectory.json`` (read into the run record by the
    benchmark). Nothing is kept but the numbers: the checkpoints are
    evaluated on the fly.

    The hook sets the train loop's validation interval to ``max_iters //
    num_points`` (mmengine validates at ``max_iters`` too), so each point
    is a normal validation (logged as usual), and after each validation it
    computes, in eval mode and without labels of the target:

    - ``entropy`` (negated mean prediction entropy), ``im`` (information
      maximisation) and ``snd`` (soft neighbourhood density) on the first
      ``target_images`` images of the target *train* set, read with the
      task's val pipeline minus ``LoadAnnotations``
      (:class:`~clst_mmseg.evaluation.label_free.LabelFreeCriteria`);
    - ``source_mIoU`` on the held-out source slice the config names as
      ``source_val_dataloader`` (labelled source data not trained on), if
      it names one;
    - ``agreement``: fraction of those target pixels on which the network
      agrees with its method's own teacher (``model.teacher``, e.g. DACS's
      EMA teacher) or temporal ensemble (the memory of a
      ``TemporalEnsembleHook``, compared on its grid), where there is one.

    Every criterion is oriented so that higher is better. The target-val
    metrics serve the study only (oracle selection); no method reads them.
    Under DDP, rank 0 measures (on the unwrapped model, through
    ``segmentor_module``: ``MMSeparateDistributedDataParallel`` wraps the
    adversarial methods' ``segmentor`` attribute in place) and writes the
    file.

    Args:
        num_points (int, optional): Evaluations per run; 0 turns the hook
            off. None (default) reads the config's top-level
            ``trajectory_points`` (10 in ``configs/_base_/default_runtime.py``,
            so a suite or ``--cfg-options trajectory_points=K`` sets it).
        target_images (int): Target-train images for the criteria.
            Defaults to 100.
        batch_size (int): Batch size of the criteria passes. Defaults to 8.
        snd_pixels (int): Pixels per image for SND. Defaults to 100.
        snd_temperature (float): SND temperature. Defaults to 0.05.
        cache_mb (float): Memory budget in MiB for keeping the collated
            batches of the target-train images and of the source-val slice
            after the first point, so that later points do not read and
            decode them again (the same batches, so the same numbers; a set
            larger than the budget is read each time). 0 reads them each
            time. Defaults to 512.
    """

    priority = 'LOW'  # after_val_epoch: after the logger has the metrics

    def __init__(self, num_points: Optional[int] = None,
                 target_images: int = 100,
                 batch_size: int = 8, snd_pixels: int = 100,
                 snd_temperature: float = 0.05,
                 cache_mb: float = 512) -> None:
        if (num_points is not None and num_points < 0) or \
                target_images < 1 or batch_size < 1 or not cache_mb >= 0:
            raise ValueError('CheckpointTrajectoryHook: num_points and '
                             'cache_mb must be >= 0, target_images and '
                             'batch_size >= 1')
        self.num_points = num_points
        self.target_images = int(target_images)
        self.batch_size = int(batch_size)
        self.snd_pixels = int(snd_pixels)
        self.snd_temperature = float(snd_temperature)
        self.cache_mb = float(cache_mb)
        self.points: List[Dict] = []
        self._target = None
        self._source = None
        self._source_metric = None
        self._active = False

    # -- set-up ------------------------------------------------------------
    def _loader(self, dataset_cfg: dict) -> CachedBatches:
        """The batches of a data set read with a fixed pipeline, kept in
        memory after the first pass (within ``cache_mb``)."""
        dataset = DATASETS.build(dataset_cfg)
        return CachedBatches(
            DataLoader(dataset, batch_size=self.batch_size, shuffle=False,
                       num_workers=0, collate_fn=pseudo_collate,
                       generator=torch.Generator()), self.cache_mb)

    def before_train(self, runner) -> None:
        cfg = runner.cfg
        if self.num_points is None:
            self.num_points = int(cfg.get('trajectory_points', 0) or 0)
        if self.num_points == 0 or runner.val_loop is None:
            return
        loop = runner.train_loop
        interval = validation_interval(loop.max_iters, self.num_points)
        if loop.val_interval != interval:
            runner.logger.warning(
                f'CheckpointTrajectoryHook: validating every {interval} '
                f'iterations (trajectory_points={self.num_points} over '
                f'max_iters={loop.max_iters}) instead of '
                f'train_cfg.val_interval={loop.val_interval}; '
                'trajectory_points=0 keeps train_cfg.val_interval')
        loop.val_interval = interval
        loop.dynamic_milestones, loop.dynamic_intervals = \
            calc_dynamic_intervals(interval, None)
        target = copy.deepcopy(cfg.train_dataloader.dataset.target)
        target['pipeline'] = _without_labels(
            cfg.val_dataloader.dataset.pipeline)
        target['indices'] = first_images(target.get('indices'),
                                         self.target_images)
        self._target = self._loader(target)
        source_cfg = cfg.get('source_val_dataloader')
        if source_cfg:
            self._source = self._loader(source_cfg['dataset'])
            self._source_metric = copy.deepcopy(cfg.val_evaluator)
        self._active = True
        path = osp.join(runner.work_dir, FILENAME)
        if runner.iter > 0 and osp.isfile(path):  # resumed
            with open(path) as f:
                self.points = [p for p in json.load(f)
                               if p['step'] <= runner.iter]
        runner.logger.info(
            f'CheckpointTrajectoryHook: {self.num_points} points, validating '
            f'every {interval} iterations; criteria on '
            f'{len(self._target.dataset)} target-train images (no labels)'
            + ('' if self._source else '; no source_val_dataloader in the '
               'config: no source-val mIoU'))

    # -- the criteria ------------------------------------------------------
    @staticmethod
    def _ensemble_memory(runner):
        for hook in runner.hooks:
            memory = getattr(hook, 'memory', None)
            if memory is not None and hasattr(memory, 'read'):
                return memory
        return None

    @torch.no_grad()
    def _target_criteria(self, runner, model) -> Dict[str, float]:
        crit = LabelFreeCriteria(self.snd_pixels, self.snd_temperature)
        teacher = getattr(model, 'teacher', None)
        teacher_net = getattr(teacher, 'model', teacher)
        memory = self._ensemble_memory(runner)
        agree, total = 0.0, 0
        for batch in self._target:
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            preds = model.segmentor_module.predict(inputs, samples)
            probs = [p.seg_logits.data.float().softmax(0) for p in preds]
            for p in probs:
                crit.update(p[None])
            refs = None
            # max(0).indices: argmax(0)'s labels (the first maximum),
            # ~15x faster on the CPU (pytorch/pytorch#140000)
            if teacher_net is not None and hasattr(teacher_net, 'predict'):
                t_preds = teacher_net.predict(inputs, copy.deepcopy(samples))
                refs = [(p.max(0).indices, t.pred_sem_seg.data[0])
                        for p, t in zip(probs, t_preds)]
            elif memory is not None:
                refs = []
                for p, s in zip(probs, samples):
                    labels, _, stored = memory.read(int(s.metainfo[
                        'sample_idx']))
                    small = F.interpolate(p[None], size=tuple(labels.shape),
                                          mode='bilinear',
                                          align_corners=False)[0].max(0)
                    small = small.indices
                    refs.append((small, labels.long().masked_fill(~stored,
                                                                  255)))
            for student, reference in refs or []:
                n = int((reference != 255).sum())
                a = agreement(student[None].cpu(), reference[None].cpu())
                if n:
                    agree += a * n
                    total += n
        out = crit.compute()
        out.pop('raw_entropy')
        if total:
            out['agreement'] = agree / total
        return out

    @torch.no_grad()
    def _source_miou(self, model) -> float:
        metric = METRICS.build(copy.deepcopy(self._source_metric))
        metric.dataset_meta = self._source.dataset.metainfo
        set_split_title([metric], split_title(
            'source val slice, not trained on', 'source_val_dataloader',
            self._source.dataset))
        for batch in self._source:
            data = model.data_preprocessor(batch, False)
            preds = model.segmentor_module.predict(data['inputs'],
                                                   data['data_samples'])
            metric.process(batch, [p.to_dict() for p in preds])
        # compute_metrics, not evaluate: this runs on rank 0 only, and
        # evaluate gathers results from every rank
        return float(metric.compute_metrics(metric.results)['mIoU'])

    def after_val_epoch(self, runner, metrics: Optional[Dict] = None) -> None:
        if not self._active or not runner.train_loop or metrics is None:
            return
        if not is_main_process():  # one rank measures and writes
            return
        model = _unwrap(runner.model)
        was_training = model.training
        model.eval()
        criteria = self._target_criteria(runner, model)
        if self._source is not None:
            criteria['source_mIoU'] = self._source_miou(model)
        model.train(was_training)
        step = runner.iter
        self.points = [p for p in self.points if p['step'] != step]
        self.points.append(dict(
            step=step,
            metrics={k: float(v) for k, v in metrics.items()
                     if k.startswith('mIoU') or k == 'aAcc'},
            criteria=criteria))
        self._write(runner)

    def _write(self, runner) -> None:
        path = osp.join(runner.work_dir, FILENAME)
        tmp = f'{path}.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.points, f, indent=1)
        os.replace(tmp, path)
