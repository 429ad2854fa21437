from .. import compat  # noqa: F401  (applied on import, before mmseg)
from .subset_iou_metric import SubsetIoUMetric

__all__ = ['SubsetIoUMetric']
