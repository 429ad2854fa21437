"""How good are the pseudo-labels a method trains on? A diagnostic against
the target-train ground truth, which no method ever sees."""
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import Tensor

from clst_mmseg.datasets.transforms.cached_loading import \
    CachedLoadAnnotations
from clst_mmseg.evaluation.pseudo_label_quality import (confusion_counts,
                                                        labels_in_aug_frame,
                                                        pseudo_label_scores)


@HOOKS.register_module()
class PseudoLabelDiagnosticsHook(Hook):
    """Logs coverage, precision and recall of a self-training method's
    pseudo-labels over training (a diagnostic: the scores are logged, no
    method reads them).

    After every training step the hook takes the pseudo-labels the step
    trained on (``model.last_pseudo_labels()``: the labels in the frame of
    the target batch and each target sample's meta information) and compares
    them with the ground truth of the same images, which the hook itself
    loads from the target dataset's label files and puts through each
    sample's recorded augmentation (:func:`labels_in_aug_frame`). The
    ground truth never enters the data batch, the model or the random
    number generators, so training is the same with and without the hook.
    Counts accumulate over ``interval`` iterations; then
    ``pl_diag.coverage``, ``pl_diag.precision``, ``pl_diag.recall`` and, with
    ``per_class``, ``pl_diag.precision.<class>`` /
    ``pl_diag.recall.<class>`` (see :func:`pseudo_label_scores`) go to the
    message hub (``train/`` scalars), which the logger writes to the work
    dir's ``vis_data/scalars.json`` and the console. Under DDP the counts of
    all ranks are summed.

    The target train set needs label files (Cityscapes ``gtFine/train``,
    mini's ``gtFine/train``): the hook checks them before training. Steps
    without pseudo-labels (warm-up; methods without any, such as
    source-only) are skipped; a run that never exposed any says so at the
    end.

    Args:
        interval (int, optional): Iterations per measurement window. None:
            the logger's interval (each logged value is then the window
            that ends at that log line).
        per_class (bool): Also log per-class precision and recall.
            Defaults to True.
    """

    priority = 'NORMAL'  # after_train_iter before the LoggerHook writes
    PREFIX = 'pl_diag'

    def __init__(self, interval: Optional[int] = None,
                 per_class: bool = True) -> None:
        if interval is not None and (int(interval) != interval
                                     or interval < 1):
            raise ValueError('PseudoLabelDiagnosticsHook: interval must be an '
                             f'integer >= 1 or None, got {interval!r}')
        self.interval = interval
        self.per_class = per_class
        self.counts: Optional[Tensor] = None
        self._seen = 0
        self._target = None
        self._load = None
        self._classes = None

    # -- set-up ------------------------------------------------------------
    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        if not hasattr(dataset, 'target'):
            raise TypeError('PseudoLabelDiagnosticsHook: the train dataset '
                            'must be a UDADataset (with a .target dataset), '
                            f'got {type(dataset).__name__}')
        self._target = dataset.target
        for i in range(len(self._target)):
            info = self._target.get_data_info(i)
            path = info.get('seg_map_path')
            if not path or not osp.isfile(path):
                raise FileNotFoundError(
                    'PseudoLabelDiagnosticsHook: target image '
                    f'{info.get("img_path")} has no label file '
                    f'({path!r}); the diagnostics need target-train labels '
                    "(the target dataset's seg_map_path, e.g. gtFine/train)")
        # each label file decoded once per run (the target set is drawn
        # from many times); the same arrays as mmseg's LoadAnnotations
        self._load = CachedLoadAnnotations()
        self._classes = list(self._target.metainfo['classes'])
        if self.interval is None:
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 50
        self.counts = torch.zeros(len(self._classes) + 1,
                                  len(self._classes) + 1, dtype=torch.long)

    def ground_truth(self, meta: dict) -> Tensor:
        """The target-train labels of a sample in its augmented frame."""
        info = self._target.get_data_info(int(meta['sample_idx']))
        gt = self._load(info)['gt_seg_map']
        return torch.from_numpy(labels_in_aug_frame(gt, meta).astype('int64'))

    # -- measuring ---------------------------------------------------------
    def measure(self, record: dict) -> Tensor:
        """Confusion counts of one step's pseudo-labels (see
        ``UDASegmentor.last_pseudo_labels``)."""
        counts = torch.zeros_like(self.counts)
        labels = record['labels'].cpu()
        for pseudo, meta in zip(labels, record['metainfo']):
            h, w = (int(v) for v in meta['img_shape'][:2])
            counts += confusion_counts(pseudo[:h, :w], self.ground_truth(meta),
                                       len(self._classes))
        return counts

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if self.counts is None:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        record = getattr(model, 'last_pseudo_labels', lambda: None)()
        if record is not None:
            self.counts += self.measure(record)
            self._seen += 1
        if (runner.iter + 1) % self.interval == 0:
            self.publish(runner)

    def publish(self, runner) -> None:
        """Log the window's scores and start a new window."""
        counts = self.counts.clone()
        if get_world_size() > 1:
            all_reduce(counts)
        self.counts.zero_()
        if int(counts.sum()) == 0:
            return
        names = self._classes if self.per_class else None
        for key, value in pseudo_label_scores(counts, names).items():
            runner.message_hub.update_scalar(
                f'train/{self.PREFIX}.{key}', value)

    def after_train(self, runner) -> None:
        if self.counts is not None and self._seen == 0:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            runner.logger.warning(
                'PseudoLabelDiagnosticsHook: '
                f'{type(model).__name__} exposed no pseudo-labels during '
                'training (no self-training term, or it never started); '
                'nothing was measured')
