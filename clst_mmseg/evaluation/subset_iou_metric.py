"""IoU over the whole split, reported for all classes and for named class
subsets (e.g. SYNTHIA -> Cityscapes' 16- and 13-class protocols)."""
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


def _percent(value: float) -> float:
    """A ratio as a percentage rounded to 2 decimals, like mmseg (NaN
    stays NaN); a Python float (rounded in float64, so no float32 digits
    such as 77.77999877929688) so that result records serialise cleanly."""
    return round(float(value) * 100, 2)


def _nanmean(values: np.ndarray) -> float:
    """Mean over the non-NaN entries; NaN (without a warning) if none."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', category=RuntimeWarning)
        return (float(np.nanmean(np.asarray(values, dtype=np.float64)))
                if len(values) else float('nan'))


@METRICS.register_module()
class SubsetIoUMetric(IoUMetric):
    """mmseg's :class:`IoUMetric` plus per-class keys and subset means.

    Intersections and unions are accumulated with mmseg's own
    ``intersect_and_union`` and summed over every image of the split before
    any ratio is taken (as cityscapesscripts' pixel-level evaluation does), so
    a class' IoU is ``sum(intersection) / sum(union)`` over the split, not a
    mean of per-image IoUs.

    A class that occurs neither in the ground truth nor in the predictions of
    the whole split has a union of 0: its IoU is NaN (reported as such under
    ``IoU.<class>``) and it is left out of every mean that contains it, so a
    mean is taken over the classes of its subset that were observed (the
    cityscapesscripts convention). A class that is predicted but absent from
    the ground truth has IoU 0 and counts. If ``nan_to_num`` is given, NaNs
    are replaced before the means, exactly as in :class:`IoUMetric`.

    Returned keys (percent, 2 decimals): ``aAcc``; ``mIoU`` over all classes
    of the dataset plus ``mAcc`` / ``mDice`` / ... as :class:`IoUMetric`
    returns them for ``iou_metrics``; one key per entry of ``class_subsets``
    (mean IoU over that subset); ``IoU.<class name>`` for every class.

    Args:
        class_subsets (dict[str, list[str]] | list[str], optional): Subset
            key -> class names, e.g. ``{'mIoU16': [...], 'mIoU13': [...]}``,
            or keys of the predefined Cityscapes subsets
            (:data:`clst_mmseg.datasets.cityscapes_labels.CLASS_SUBSETS`),
            e.g. ``['mIoU16', 'mIoU13']``. Names must be in
            ``dataset_meta['classes']``. None reports only ``mIoU``.
            Defaults to None.
        iou_metrics (list[str]): As in :class:`IoUMetric`; must contain
            ``'mIoU'``. Defaults to ``['mIoU']``.
        **kwargs: The other arguments of :class:`IoUMetric` (``ignore_index``,
            ``nan_to_num``, ``beta``, ``collect_device``, ``output_dir``,
            ``format_only``, ``prefix``).
    """
    # Keys stay unprefixed ('mIoU', as the tools and records read them);
    # '' instead of mmengine's None also drops its start-up warning "The
    # prefix is not set".
    default_prefix: Optional[str] = ''
    #: The split scored, named in the title of the printed tables (e.g.
    #: 'target val (val_dataloader, 200 images)'); set by whoever runs the
    #: evaluation (:class:`~clst_mmseg.engine.hooks.SplitTitleHook`, the
    #: trajectory hook's source-val slice), not a config key.
    split: Optional[str] = None

    def __init__(self,
                 class_subsets: Optional[Dict[str, List[str]]] = None,
                 iou_metrics: List[str] = ['mIoU'],
                 **kwargs) -> None:
        if isinstance(iou_metrics, str):
            iou_metrics = [iou_metrics]
        if 'mIoU' not in iou_metrics:
            raise ValueError(f'SubsetIoUMetric: iou_metrics must contain '
                             f"'mIoU', got {iou_metrics}")
        super().__init__(iou_metrics=iou_metrics, **kwargs)
        self.class_subsets = self._check_subsets(class_subsets)

    @staticmethod
    def _check_subsets(
        class_subsets: Optional[Dict[str, List[str]]]
    ) -> 'OrderedDict[str, List[str]]':
        """Validate the shape of ``class_subsets`` (names are checked against
        the dataset once its meta is known)."""
        if class_subsets is None:
            return OrderedDict()
        if isinstance(class_subsets, (list, tuple)):
            class_subsets = _named_subsets(class_subsets)
        if not isinstance(class_subsets, dict):
            raise ValueError('SubsetIoUMetric: class_subsets must be a dict '
                             'of subset key -> list of class names, got '
                             f'{type(class_subsets).__name__}')
        reserved = {
            'mIoU', 'aAcc', 'mAcc', 'mDice', 'mFscore', 'mPrecision', 'mRecall'
        }
        checked = OrderedDict()
        for key, names in class_subsets.items():
            if not isinstance(key, str) or key in reserved or \
                    key.startswith('IoU.'):
                raise ValueError(f'SubsetIoUMetric: class_subsets key {key!r}'
                                 ' must be a str other than '
                                 f'{sorted(reserved)} and not start with '
                                 "'IoU.'")
            if isinstance(names, str) or not names or not all(
                    isinstance(n, str) for n in names):
                raise ValueError(f'SubsetIoUMetric: class_subsets[{key!r}] '
                                 'must be a non-empty list of class names, '
                                 f'got {names!r}')
            checked[key] = list(names)
        return checked

    @IoUMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """Set the dataset meta and check the subsets against its classes
        (the evaluator sets it when the dataloader is built, so a typo fails
        before training starts)."""
        self._dataset_meta = dataset_meta
        if dataset_meta is not None and 'classes' in dataset_meta:
            self._subset_indices(dataset_meta['classes'])

    def _subset_indices(
            self, class_names: Sequence[str]) -> 'OrderedDict[str, List[int]]':
        """Map each subset to the indices of its classes.

        Raises:
            ValueError: If a subset names a class the dataset does not have.
        """
        class_names = list(class_names)
        indices = OrderedDict()
        for key, names in self.class_subsets.items():
            unknown = [n for n in names if n not in class_names]
            if unknown:
                raise ValueError(
                    f'SubsetIoUMetric: class_subsets[{key!r}] names unknown '
                    f'class(es) {unknown}; valid names: {class_names}')
            indices[key] = [class_names.index(n) for n in names]
        return indices

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the per-image areas of the split.

        Args:
            results (list): The ``(intersect, union, pred_area, label_area)``
                tuples that :meth:`process` collected.

        Returns:
            Dict[str, float]: ``aAcc``, ``mIoU`` (and the other means of
            ``iou_metrics``), one key per subset and ``IoU.<class>``.
        """
        if self.format_only:
            return super().compute_metrics(results)
        logger: MMLogger = MMLogger.get_current_instance()
        class_names = list(self.dataset_meta['classes'])
        subset_indices = self._subset_indices(class_names)

        intersect, union, pred_area, label_area = (sum(areas)
                                                   for areas in zip(*results))
        ret_metrics = self.total_area_to_metrics(intersect, union, pred_area,
                                                 label_area, self.metrics,
                                                 self.nan_to_num, self.beta)

        metrics = OrderedDict(aAcc=_percent(ret_metrics.pop('aAcc')))
        for key, per_class in ret_metrics.items():
            metrics['m' + key] = _percent(_nanmean(per_class))
        iou = ret_metrics['IoU']
        for key, idx in subset_indices.items():
            metrics[key] = _percent(_nanmean(iou[idx]))
        for name, value in zip(class_names, iou):
            metrics[f'IoU.{name}'] = _percent(value)

        self._log_tables(class_names, ret_metrics, subset_indices, metrics,
                         logger)
        return dict(metrics)

    def _log_tables(self, class_names: List[str],
                    ret_metrics: Dict[str, np.ndarray],
                    subset_indices: Dict[str, List[int]],
                    metrics: Dict[str, float], logger: MMLogger) -> None:
        """Log the per-class table (with subset membership) and the subset
        summary."""
        class_table = PrettyTable()
        class_table.add_column('Class', class_names)
        for key, per_class in ret_metrics.items():
            class_table.add_column(key, [_percent(v) for v in per_class])
        for key, idx in subset_indices.items():
            class_table.add_column(
                key,
                ['x' if i in idx else '' for i in range(len(class_names))])
        split = f', {self.split}' if self.split else ''
        print_log(f'per class results{split}:', logger)
        print_log('\n' + class_table.get_string(), logger=logger)

        iou = ret_metrics['IoU']
        summary = PrettyTable(['Subset', 'Classes', 'Evaluated', 'mIoU'])
        all_idx = OrderedDict(mIoU=list(range(len(class_names))))
        all_idx.update(subset_indices)
        for key, idx in all_idx.items():
            evaluated = int(np.count_nonzero(~np.isnan(iou[idx])))
            summary.add_row([key, len(idx), evaluated, metrics[key]])
        print_log(
            f'subset results{split}; aAcc {metrics["aAcc"]} (classes absent '
            'from the whole split are NaN and left out of the means):', logger)
        print_log('\n' + summary.get_string(), logger=logger)


def _named_subsets(keys: Sequence[str]) -> Dict[str, List[str]]:
    """Resolve keys of the predefined Cityscapes class subsets."""
    from clst_mmseg.datasets.cityscapes_labels import CLASS_SUBSETS
    unknown = [k for k in keys if k not in CLASS_SUBSETS]
    if unknown:
        raise ValueError('SubsetIoUMetric: class_subsets: unknown subset(s) '
                         f'{unknown}; predefined: {sorted(CLASS_SUBSETS)}')
    return {k: CLASS_SUBSETS[k] for k in keys}
