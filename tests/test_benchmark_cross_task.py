"""The cross-task summary and the per-class Δ IoU against the baseline, from
fake records of two tasks: exact gains, ranks, flags, the Markdown and the
heatmap."""
import math

import numpy as np
import pandas as pd
import pytest

from clst_mmseg.benchmark.class_deltas import (class_deltas, deltas_markdown,
                                               plot_class_deltas)
from clst_mmseg.benchmark.cross_task import (cross_task_summary,
                                             summary_flags, summary_markdown,
                                             task_scores)
from clst_mmseg.benchmark.report import records_frame
from clst_mmseg.benchmark.significance import welch

METHODS = [
    dict(name='source_only', title='Source only', role='baseline'),
    dict(name='clst', title='CLST', role='method'),
    dict(name='self_training', title='Self-training', role='method'),
    dict(name='dacs', title='DACS', role='method'),
    dict(name='oracle', title='Oracle', role='upper_bound'),
]
TASKS = ['mini', 'adverse']
TITLES = dict(mini='mini', adverse='adverse')


def _rec(task, method, seed, miou, classes, status='finished'):
    return dict(run_id=f'{task}-{method}-h-s{seed}', task=task,
                method=method, seed=seed, status=status, config_hash='h',
                iterations=1500, metrics=dict(aAcc=90.0, mIoU=miou),
                per_class_iou=classes)


def _adverse(method, seed, miou, bg, person):
    return _rec('adverse', method, seed, miou,
                dict(background=bg, person=person))


RECORDS = [
    # mini: everything above source-only; self-training ties with dacs
    *[_rec('mini', 'source_only', s, 40 + s, dict(road=50 + s))
      for s in range(3)],
    *[_rec('mini', 'clst', s, 45 + s, dict(road=60 + s)) for s in range(3)],
    *[_rec('mini', 'self_training', s, 43 + s, dict(road=55))
      for s in range(3)],
    *[_rec('mini', 'dacs', s, 43 + s, dict(road=52)) for s in range(3)],
    *[_rec('mini', 'oracle', s, 70 + s, dict(road=80)) for s in range(3)],
    # adverse: clst and self-training fall below source-only (object class
    # collapses); dacs did not run there; a failed run is ignored
    _adverse('source_only', 0, 37.0, 70.0, 20.0),
    _adverse('source_only', 1, 38.0, 68.0, 22.0),
    _adverse('clst', 0, 34.0, 76.0, 10.0),
    _adverse('clst', 1, 35.0, 77.0, 12.0),
    _adverse('self_training', 0, 28.0, 80.0, 5.0),
    _adverse('self_training', 1, 29.0, 79.0, np.nan),
    _adverse('self_training', 2, 99.0, 99.0, 99.0) | dict(status='failed'),
    _adverse('oracle', 0, 65.0, 90.0, 60.0),
]


@pytest.fixture(scope='module')
def frame():
    return records_frame(RECORDS)


@pytest.fixture(scope='module')
def scores(frame):
    return task_scores(frame, TASKS, METHODS)


def _row(scores, task, method):
    hit = scores[(scores['task'] == task) & (scores['method'] == method)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_task_scores_gains_ranks_and_flags(scores):
    assert list(scores['task'].unique()) == TASKS
    assert set(scores['metric']) == {'mIoU'}
    clst = _row(scores, 'mini', 'clst')
    assert clst['mean'] == pytest.approx(46.0)
    assert clst['std'] == pytest.approx(1.0)
    assert clst['baseline_mean'] == pytest.approx(41.0)
    assert clst['gain'] == pytest.approx(5.0)
    assert not clst['below']
    assert clst['p'] == pytest.approx(
        welch([45, 46, 47], [40, 41, 42])['p'])
    # ranks among methods and baseline (1 = best), ties share the lower
    # rank, the upper bound is not ranked
    ranks = {m: _row(scores, 'mini', m)['rank']
             for m in ('clst', 'self_training', 'dacs', 'source_only')}
    assert ranks == dict(clst=1, self_training=2, dacs=2, source_only=4)
    assert math.isnan(_row(scores, 'mini', 'oracle')['rank'])
    st = _row(scores, 'adverse', 'self_training')
    assert st['n_seeds'] == 2  # the failed run is not counted
    assert st['gain'] == pytest.approx(28.5 - 37.5)
    assert st['below'] and st['rank'] == 3
    assert math.isnan(_row(scores, 'adverse', 'source_only')['p'])
    assert _row(scores, 'adverse', 'source_only')['gain'] == 0
    assert not ((scores['task'] == 'adverse')
                & (scores['method'] == 'dacs')).any()


def test_cross_task_summary(scores):
    summary = cross_task_summary(scores, TASKS, METHODS)
    assert list(summary['method']) == [m['name'] for m in METHODS]
    by = summary.set_index('method')
    assert by.at['clst', 'gain.mini'] == pytest.approx(5.0)
    assert by.at['clst', 'gain.adverse'] == pytest.approx(-3.0)
    assert by.at['clst', 'mean_gain'] == pytest.approx(1.0)
    assert by.at['clst', 'mean_rank'] == pytest.approx((1 + 2) / 2)
    assert by.at['clst', 'n_below'] == 1
    assert bool(by.at['clst', 'below.adverse'])
    assert not bool(by.at['clst', 'below.mini'])
    assert by.at['self_training', 'mean_rank'] == pytest.approx((2 + 3) / 2)
    assert by.at['source_only', 'mean_rank'] == pytest.approx((4 + 1) / 2)
    # dacs ran on one task only: its means are over that task
    assert by.at['dacs', 'n_tasks'] == 1
    assert math.isnan(by.at['dacs', 'gain.adverse'])
    assert by.at['dacs', 'mean_gain'] == pytest.approx(3.0)
    assert by.at['oracle', 'n_below'] == 0
    assert math.isnan(by.at['oracle', 'mean_rank'])


def test_summary_markdown(scores):
    summary = cross_task_summary(scores, TASKS, METHODS)
    md = summary_markdown(summary, scores, TASKS, TITLES, 'Source only')
    lines = md.splitlines()
    assert lines[0] == '### Across tasks'
    assert ('| Method | mini: Δ mIoU (vs 41.0) | adverse: Δ mIoU (vs 37.5) '
            '| Mean Δ | Mean rank | Tasks below | Seeds per task |') in lines
    assert '| *Source only* | – | – | – | 2.50 | – | 3, 2 |' in lines
    assert '| CLST | +5.0 | -3.0 ↓ | +1.0 | 1.50 | 1 of 2 | 3, 2 |' in lines
    assert '| DACS | +3.0 | – | +3.0 | 2.00 | 0 of 1 | 3, – |' in lines
    assert '| *Oracle* | +30.0 | +27.5 | +28.8 | – | – | 3, 1 |' in lines
    w = welch([34, 35], [37, 38])
    assert (f'- CLST on adverse: 34.5 vs 37.5 (-3.0 mIoU, 95 % CI '
            f'[{w["ci_low"]:+.1f}, {w["ci_high"]:+.1f}], p = {w["p"]:.3f})'
            in lines)
    assert lines[-1] == ('Not run on every task (means over fewer tasks): '
                         'DACS.')


def test_summary_flags_leave_out_upper_bounds_and_gains(scores):
    flags = summary_flags(scores)
    assert [f.split(':')[0] for f in flags] == [
        'CLST on adverse', 'Self-training on adverse']
    assert summary_flags(pd.DataFrame()) == []


def test_baseline_must_be_named():
    with pytest.raises(ValueError, match='exactly one method with role '
                       '"baseline"'):
        task_scores(records_frame(RECORDS), TASKS,
                    [m for m in METHODS if m['role'] != 'baseline'])
    explicit = task_scores(records_frame(RECORDS), ['mini'], METHODS,
                           baseline='dacs')
    assert _row(explicit, 'mini', 'clst')['gain'] == pytest.approx(2.0)


def test_empty_frame():
    assert task_scores(records_frame([]), TASKS, METHODS).empty
    assert class_deltas(records_frame([]), 'mini', METHODS,
                        'source_only').empty


def test_class_deltas(frame):
    d = class_deltas(frame, 'adverse', METHODS, 'source_only')
    assert list(d.index) == ['CLST', 'Self-training', 'Oracle']
    assert list(d.columns) == ['background', 'person']
    assert d.at['CLST', 'background'] == pytest.approx(76.5 - 69.0)
    assert d.at['CLST', 'person'] == pytest.approx(11.0 - 21.0)
    # a missing per-class value on one seed: mean over the others
    assert d.at['Self-training', 'person'] == pytest.approx(5.0 - 21.0)
    assert class_deltas(frame, 'adverse', METHODS, 'nobody').empty
    md = deltas_markdown(d, 'Source only').splitlines()
    assert md[0] == ('Per-class IoU change against Source only (points, '
                     'mean over seeds):')
    assert md[2] == '| Method | background | person |'
    assert md[4] == '| CLST | +7.5 | -10.0 |'


def test_plot_class_deltas(frame, tmp_path):
    import matplotlib.image as mpimg
    d = class_deltas(frame, 'mini', METHODS, 'source_only')
    path = plot_class_deltas(d, 'mini: Δ IoU vs Source only',
                             str(tmp_path / 'out' / 'deltas.png'))
    assert path == str(tmp_path / 'out' / 'deltas.png')
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_summary_of_a_task_without_runs(scores):
    tasks = TASKS + ['gta2cs']
    summary = cross_task_summary(scores, tasks, METHODS)
    assert summary.set_index('method').at['clst', 'n_tasks'] == 2
    lines = summary_markdown(summary, scores, tasks, TITLES,
                             'Source only').splitlines()
    assert lines[4].endswith('| gta2cs: Δ | Mean Δ | Mean rank | '
                             'Tasks below | Seeds per task |')
    assert ('| CLST | +5.0 | -3.0 ↓ | – | +1.0 | 1.50 | 1 of 2 | '
            '3, 2, – |') in lines


def test_publish_writes_delta_heatmaps_and_the_cross_task_summary(tmp_path):
    """The leaderboard of each task holds only its own classes, gets the
    Δ IoU table and heatmap; a suite of several tasks gets the summary."""
    import os.path as osp

    from clst_mmseg.benchmark.publish import publish
    from clst_mmseg.benchmark.store import ResultsStore
    from clst_mmseg.benchmark.suite import load_suite
    from test_benchmark_fakes import make_suite, with_mean
    methods = ('source_only', 'clst', 'oracle')
    path = make_suite(str(tmp_path), methods=methods, tasks=TASKS,
                      seeds=(0, 1))
    suite = load_suite(path)
    store = ResultsStore(suite.results_dir)
    for run in suite.runs:
        rec = next((r for r in RECORDS if r['task'] == run.task
                    and r['method'] == run.method and r['seed'] == run.seed
                    and r['status'] == 'finished'), None)
        if rec is None:
            continue
        store.write(dict(
            rec, run_id=run.run_id, config_hash=run.config_hash, schema=1,
            reason=None, started_at=None, resumed=False, attempts=[],
            checkpoint=dict(path='x.pth', iteration=1500),
            devices=dict(type='cpu', count=1),
            resolved_config=run.resolved_config,
            per_class_iou=with_mean(rec['metrics']['mIoU'],
                                    rec['per_class_iou'])))
    printed = []
    written = publish(suite, store, printed.append)
    mini_md = open(osp.join(suite.results_dir, 'mini',
                            'leaderboard.md')).read()
    assert 'person' not in mini_md  # adverse's classes stay out
    assert 'Per-class IoU change against Source only' in mini_md
    assert osp.isfile(osp.join(suite.results_dir, 'adverse',
                               'leaderboard_delta_iou.png'))
    summary = open(osp.join(suite.results_dir,
                            'leaderboard_cross_task.md')).read()
    assert summary.startswith('### Across tasks')
    assert '| CLST | +5.0 | -3.0 ↓ |' in summary
    assert written['cross_task'][0].endswith('leaderboard_cross_task.md')
    assert summary in printed
