"""Writes the metrics of every validation to a JSON file, so that a caller
(the benchmark runner) takes the evaluation the training already did instead
of loading the checkpoint and evaluating it again in another process."""
import json
import math
import numbers
import os
import os.path as osp
import tempfile
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def write_metrics_json(metrics: Dict, path: str) -> None:
    """Write a metrics dict (numbers become floats, NaN and inf become null)
    to ``path``, atomically (temp file + rename), for other tools such as
    the benchmark's result records."""
    clean = {}
    for k, v in metrics.items():
        if isinstance(v, numbers.Real):
            v = float(v) if math.isfinite(float(v)) else None
        clean[k] = v
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.metrics-', suffix='.json', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(clean, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@HOOKS.register_module()
class ValMetricsJSONHook(Hook):
    """After each validation, write its metrics (per-class IoU, mIoU, class
    subsets: what the evaluator returns) to ``<out_dir>/iter_<N>.json``,
    where N is the iteration the evaluated weights were trained for (the
    iteration of the checkpoint saved with them). Rank 0 writes.

    ``tools/train.py --val-metrics-dir DIR`` registers it.

    Args:
        out_dir (str): Folder of the JSON files.
    """
    priority = 'LOW'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def after_val_epoch(self, runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        if metrics is None or runner.rank != 0:
            return
        write_metrics_json(
            metrics, osp.join(self.out_dir, f'iter_{runner.iter}.json'))
