"""A short run from the command line: the schedule's ends and the logger
interval follow ``train_cfg.max_iters`` (unless the same command sets them),
identically in tools/train.py's loader and in the benchmark's run identity,
and every printed evaluation table names the split it scores."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from clst_mmseg.apis import load_config
from clst_mmseg.apis.schedule_length import merge_overrides
from clst_mmseg.benchmark.identity import config_hash, resolve_config
from clst_mmseg.engine.hooks import SplitTitleHook
from clst_mmseg.evaluation import SubsetIoUMetric
from conftest import ROOT

CLST = osp.join(ROOT, 'configs', 'clst', 'mini.py')


def test_a_shorter_run_moves_the_poly_end_and_the_logger(capsys):
    cfg = load_config(CLST, {'train_cfg.max_iters': 60})
    assert cfg.param_scheduler[0].end == 60
    assert cfg.default_hooks.logger.interval == 6  # 10 loss lines
    assert capsys.readouterr().out.splitlines() == [
        'schedule: train_cfg.max_iters 250 -> 60; param_scheduler.0.end '
        '(PolyLR) 250 -> 60; default_hooks.logger.interval 25 -> 6'
    ]
    # the benchmark's identity resolves the same config
    resolved = resolve_config(CLST, {'train_cfg.max_iters': 60})
    assert config_hash(resolved) == config_hash(cfg.to_dict())
    assert resolved['param_scheduler'][0]['end'] == 60


def test_what_the_command_sets_stays(capsys):
    options = {'train_cfg.max_iters': 60, 'param_scheduler.0.end': 500,
               'default_hooks.logger.interval': 100}
    cfg = load_config(CLST, options)
    assert cfg.param_scheduler[0].end == 500
    assert cfg.default_hooks.logger.interval == 100
    assert capsys.readouterr().out.strip() == (
        'schedule: train_cfg.max_iters 250 -> 60; param_scheduler.0.end '
        '(PolyLR) 500 as set')
    assert resolve_config(CLST, options)['param_scheduler'][0]['end'] == 500


def test_no_length_change_no_rewrite(capsys):
    cfg = load_config(CLST, {'randomness.seed': 3})
    assert cfg.param_scheduler[0].end == 250
    assert cfg.default_hooks.logger.interval == 25
    assert capsys.readouterr().out == ''
    # longer: the logger keeps its interval (already >= 10 lines)
    cfg = load_config(CLST, {'train_cfg.max_iters': 1500})
    assert cfg.param_scheduler[0].end == 1500
    assert cfg.default_hooks.logger.interval == 25


def test_mmcv_style_end_and_a_fixed_warm_up(tmp_path):
    """end = max_iters + 1 keeps its offset; a warm-up that ends earlier
    keeps its length and is named when the run is shorter than it."""
    path = tmp_path / 'cfg.py'
    path.write_text(
        'train_cfg = dict(max_iters=500)\n'
        'default_hooks = dict(logger=dict(type="LoggerHook", interval=5))\n'
        'param_scheduler = [\n'
        '    dict(type="PolyLR", by_epoch=False, begin=0, end=501),\n'
        '    dict(type="LinearLR", by_epoch=False, begin=0, end=20),\n'
        '    dict(type="ConstantLR", by_epoch=True, begin=0, end=500)]\n')
    cfg = Config.fromfile(str(path))
    notes = merge_overrides(cfg, {'train_cfg.max_iters': 10})
    assert [s['end'] for s in cfg.param_scheduler] == [11, 20, 500]
    assert cfg.default_hooks.logger.interval == 1
    assert notes == [
        'train_cfg.max_iters 500 -> 10',
        'param_scheduler.0.end (PolyLR) 501 -> 11',
        'param_scheduler.1.end (LinearLR) 20 kept (a fixed length), not '
        'reached within 10 iterations',
        'default_hooks.logger.interval 5 -> 1'
    ]


def test_a_suite_override_of_max_iters_alone_moves_the_end():
    from clst_mmseg.benchmark.suite import load_suite
    suite = load_suite(osp.join(ROOT, 'configs', 'benchmarks', 'mini.py'),
                       extra_overrides={'train_cfg.max_iters': 200})
    for run in suite.runs:
        # the poly decay ends at max_iters (DAFormer's: max_iters + 1)
        offset = resolve_config(run.config)['param_scheduler'][0]['end'] - 250
        assert run.resolved_config['param_scheduler'][0]['end'] == \
            200 + offset
        # tools/train.py derives the end itself: only max_iters is passed
        assert not any(o.startswith('param_scheduler')
                       for o in run.cfg_options)


def _titles(metric, monkeypatch):
    """The titles of the tables ``metric`` prints for a tiny split."""
    import clst_mmseg.evaluation.subset_iou_metric as module
    printed = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, *a, **k: printed.append(msg))
    metric.dataset_meta = dict(classes=('a', 'b'))
    metric.process({}, [dict(
        pred_sem_seg=dict(data=torch.tensor([[[0, 1], [1, 1]]])),
        gt_sem_seg=dict(data=torch.tensor([[[0, 1], [0, 1]]])))])
    metric.evaluate(1)
    return [m for m in printed if not m.startswith('\n')]


def test_tables_name_their_split(monkeypatch):
    metric = SubsetIoUMetric()
    loop = SimpleNamespace(evaluator=SimpleNamespace(metrics=[metric]),
                           dataloader=SimpleNamespace(dataset=[0] * 200))
    SplitTitleHook().before_val(SimpleNamespace(val_loop=loop))
    assert metric.split == 'target val (val_dataloader, 200 images)'
    lines = _titles(metric, monkeypatch)
    assert lines[0] == ('per class results, target val (val_dataloader, '
                        '200 images):')
    assert lines[1].startswith('subset results, target val (val_dataloader,'
                               ' 200 images); aAcc ')
    SplitTitleHook().before_test(SimpleNamespace(test_loop=loop))
    assert metric.split == 'test (test_dataloader, 200 images)'
    # the trajectory hook titles its source-val slice the same way
    from clst_mmseg.engine.hooks.split_title_hook import (set_split_title,
                                                          split_title)
    set_split_title([metric], split_title(
        'source val slice, not trained on', 'source_val_dataloader',
        [0] * 100))
    assert _titles(metric, monkeypatch)[0] == (
        'per class results, source val slice, not trained on '
        '(source_val_dataloader, 100 images):')


@pytest.mark.parametrize('bad', [{'train_cfg.max_iters': 0},
                                 {'train_cfg.max_iters': 2.5}])
def test_an_invalid_length_is_left_to_the_value_check(bad):
    with pytest.raises(ValueError, match='^train_cfg.max_iters: expected'):
        resolve_config(CLST, bad)
