"""ValMetricsJSONHook writes each validation's metrics where the benchmark
runner reads them."""
import json
from types import SimpleNamespace

from clst_mmseg.engine.hooks import ValMetricsJSONHook


def test_writes_metrics_per_iteration_nan_as_null(tmp_path):
    hook = ValMetricsJSONHook(str(tmp_path / 'val_metrics'))
    runner = SimpleNamespace(rank=0, iter=500)
    hook.after_val_epoch(runner, metrics={
        'mIoU': 41.25, 'IoU.road': 80.5, 'IoU.pole': float('nan')})
    runner.iter = 1000
    hook.after_val_epoch(runner, metrics={'mIoU': 43.0})
    assert sorted(p.name for p in (tmp_path / 'val_metrics').iterdir()) == [
        'iter_1000.json', 'iter_500.json'
    ]
    assert json.loads((tmp_path / 'val_metrics' / 'iter_500.json')
                      .read_text()) == {'mIoU': 41.25, 'IoU.road': 80.5,
                                        'IoU.pole': None}


def test_only_rank_zero_writes(tmp_path):
    hook = ValMetricsJSONHook(str(tmp_path / 'v'))
    hook.after_val_epoch(SimpleNamespace(rank=1, iter=5), metrics={'a': 1})
    assert not (tmp_path / 'v').exists()
