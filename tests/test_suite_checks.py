"""Signal checks of a suite from its records (tools/benchmark_signal.py)."""
import math
import os.path as osp
import sys

from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import load_suite
from clst_mmseg.benchmark.suite_checks import (Stats, method_stats,
                                               side_by_side, signal_checks,
                                               wall_time)
from conftest import ROOT
from test_benchmark_fakes import make_suite, valid_record

sys.path.insert(0, osp.join(ROOT, 'tools'))
import benchmark_signal  # noqa: E402


def _rec(method, seed, miou, start='2026-01-01T10:00:00+00:00',
         end='2026-01-01T10:01:00+00:00', status='finished', **extra):
    return dict(schema=1, method=method, seed=seed, status=status,
                reason=None, config_hash='h', resumed=False, attempts=[],
                metrics=dict(mIoU=miou), per_class_iou={}, started_at=start,
                finished_at=end, wall_time_s=60.0,
                checkpoint=dict(path='x.pth', iteration=1), **extra)


def _stored(method, seed, miou, resolved_config, **extra):
    """:func:`_rec` as the store takes it: its run id made of its task,
    method, config and seed, its mIoU the mean of its per-class IoU."""
    rec = valid_record(method, seed=seed, resolved_config=resolved_config)
    return dict(_rec(method, seed, miou, **extra), task='mini',
                run_id=rec['run_id'], config_hash=rec['config_hash'],
                resolved_config=resolved_config,
                per_class_iou=dict(road=miou))


def test_method_stats_and_wall_time():
    recs = [_rec('a', 0, 40.0), _rec('a', 1, 42.0),
            _rec('a', 2, 99.0, status='failed'),
            _rec('b', 0, 50.0, end='2026-01-01T10:14:30+00:00')]
    stats = method_stats(recs)
    assert stats['a'].n == 2 and stats['a'].mean == 41.0
    assert math.isclose(stats['a'].std, math.sqrt(2))
    assert stats['b'].n == 1 and math.isnan(stats['b'].std)
    assert wall_time(recs) == dict(runs=3, seconds=870.0, run_sum_s=180.0,
                                   run_mean_s=60.0)


def _lines(checks):
    return [c.line() for c in checks]


def test_checks_pass_and_fail():
    ref = dict(so=Stats(3, 40.0, 1.0), orc=Stats(3, 70.0, 0.5),
               x=Stats(3, 46.0, 0.5), y=Stats(3, 42.0, 1.0))
    same = signal_checks(ref, ref, ['x', 'y'], 'so', 'orc', 20, 1.5)
    assert all(c.passed for c in same)
    assert same[-1].detail == ('1 of 1 pairs the reference ordered beyond 2 '
                               'SE keep their order')
    new = dict(so=Stats(3, 40.0, 1.6), orc=Stats(3, 58.0, 0.5),
               x=Stats(3, 41.0, 0.5), y=Stats(3, 43.0, 1.0))
    assert _lines(signal_checks(new, ref, ['x', 'y'], 'so', 'orc', 20,
                                1.5)) == [
        'FAIL  gap orc - so: 18.0 (>= 20)',
        'FAIL  seed std so: 1.60 (<= 1.5)',
        'PASS  seed std orc: 0.50 (<= 1.5)',
        'FAIL  gain of x over so: +1.0 vs reference +6.0 (|difference| 5.0 '
        '<= 2 SE = 2.3)',
        'PASS  gain of y over so: +3.0 vs reference +2.0 (|difference| 1.0 '
        '<= 2 SE = 2.7)',
        'FAIL  order of the methods: 0 of 1 pairs the reference ordered '
        'beyond 2 SE keep their order; flipped: x vs y',
    ]


def test_side_by_side_table():
    ref = dict(so=Stats(3, 40.0, 1.0), x=Stats(3, 46.0, 0.5))
    new = dict(so=Stats(2, 39.0, 1.2), x=Stats(1, 44.0, math.nan))
    assert side_by_side(new, ref, [('so', 'Source'), ('x', 'X')],
                        'so').splitlines()[2:] == [
        '| Source | 40.0 ± 1.0 (3) |  | 39.0 ± 1.2 (2) |  |',
        '| X | 46.0 ± 0.5 (3) | +6.0 | 44.0 (1) | +5.0 |',
    ]


def test_tool_prints_wall_time_tables_and_checks(tmp_path, capsys):
    suite = make_suite(str(tmp_path / 'new'),
                       methods=('source_only', 'clst', 'oracle'),
                       seeds=(0, 1), extra="upper_bounds = ['oracle']\n")
    spec = load_suite(suite)
    store = ResultsStore(spec.results_dir)
    values = dict(source_only=(40.0, 41.0), clst=(45.0, 46.0),
                  oracle=(65.0, 66.0))
    ref_dir = tmp_path / 'ref'
    for i, r in enumerate(spec.runs):
        miou = values[r.method][r.seed]
        store.write(_stored(r.method, r.seed, miou, r.resolved_config,
                            suite=suite,
                            end=f'2026-01-01T10:0{i}:30+00:00'))
        ResultsStore(str(ref_dir)).write(
            _stored(r.method, r.seed, miou + 1, dict(old=True),
                    suite=suite))
    # a record of another suite is not part of the reference
    ResultsStore(str(ref_dir)).write(
        _stored('clst', 0, 10.0, {}, suite='x.py'))
    assert benchmark_signal.main([suite, '--reference', str(ref_dir)]) == 0
    out = capsys.readouterr().out
    assert ('this suite: 6 finished run(s), 5 min 30 s wall from the first '
            'start to the last finish') in out
    assert '| CLST | 46.5 ± 0.7 (2) | +5.0 | 45.5 ± 0.7 (2) | +5.0 |' in out
    assert 'PASS  gap oracle - source_only: 25.0 (>= 20)' in out
    assert benchmark_signal.main([suite, '--min-gap', '30']) == 1
    assert benchmark_signal.main([suite, '--reference', 'no-such-rev']) == 2
