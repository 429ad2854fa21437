"""The statistics of the reports: intervals that agree with their tests
(coverage simulated at 3 seeds), Holm's correction, "n/a" for one seed,
the aggregates over tasks and seeds (rliable's definitions), Kendall's tau
between tasks, and reports that never outlive their records."""
import math
import os
import os.path as osp

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clst_mmseg.benchmark.aggregate import (SIMULATED_COVERAGE,
                                            consistent_pairs,
                                            improvement_interval, iqm,
                                            iqm_interval, kendall_tau,
                                            normalise,
                                            probability_of_improvement,
                                            rank_agreement, runs_by_task)
from clst_mmseg.benchmark.cross_task import agreement_lines
from clst_mmseg.benchmark.report import comparisons, records_frame
from clst_mmseg.benchmark.significance import holm, welch
from clst_mmseg.benchmark.tables import comparison_lines


def _rec(task, method, seed, miou):
    return dict(run_id=f'{task}-{method}-h-s{seed}', task=task,
                method=method, seed=seed, status='finished',
                config_hash='h', iterations=10, metrics=dict(mIoU=miou),
                per_class_iou=dict(road=miou))


def _frame(scores):
    """``{(task, method): [score per seed]}`` -> records_frame."""
    return records_frame([_rec(t, m, s, v) for (t, m), vals in scores.items()
                          for s, v in enumerate(vals)])


# --- 21.10: intervals that agree with their tests --------------------------


def _percentile_bootstrap(a, b, n_boot, seed, level=0.95):
    """The interval the reports printed before: a percentile bootstrap of
    mean(a) - mean(b), the seeds of each side resampled independently."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    boot = (a[rng.integers(0, len(a), (n_boot, len(a)))].mean(1) -
            b[rng.integers(0, len(b), (n_boot, len(b)))].mean(1))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return dict(low=low, high=high)


def test_welch_interval_covers_at_three_seeds():
    """Simulated: 3 vs 3 seeds, unequal spreads. The Welch t-interval holds
    its 95 % (the percentile bootstrap the reports printed before covered
    far less), and it excludes 0 exactly when Welch's p < 0.05."""
    rng = np.random.default_rng(0)
    true = 1.0
    hits, boot_hits, agree = 0, 0, 0
    n = 2000
    for k in range(n):
        a, b = rng.normal(true, 1.0, 3), rng.normal(0.0, 3.0, 3)
        w = welch(a, b)
        hits += w['ci_low'] <= true <= w['ci_high']
        agree += (w['p'] < 0.05) == (not w['ci_low'] <= 0 <= w['ci_high'])
        if k < 300:
            ci = _percentile_bootstrap(a, b, n_boot=500, seed=k)
            boot_hits += ci['low'] <= true <= ci['high']
    assert 0.93 <= hits / n <= 0.975
    assert agree == n
    assert boot_hits / 300 < 0.85  # why the bootstrap is gone


def test_report_comparisons_print_the_welch_interval_and_holm():
    frame = _frame({('mini', 'base'): [40, 41, 42],
                    ('mini', 'a'): [44, 46, 45],
                    ('mini', 'b'): [41, 43, 45],
                    ('mini', 'one'): [50]})
    comps = comparisons(frame, 'mini', 'mIoU',
                        [('a', 'base'), ('b', 'base'), ('one', 'base')])
    wa = welch([44, 46, 45], [40, 41, 42])
    wb = welch([41, 43, 45], [40, 41, 42])
    row = comps.set_index('a').loc['a']
    assert (row['ci_low'], row['ci_high']) == pytest.approx(
        (wa['ci_low'], wa['ci_high']))
    # Holm over the two tests that could run; one seed is not a test
    assert comps['p_holm'].tolist()[:2] == pytest.approx(
        holm([wa['p'], wb['p']]))
    assert math.isnan(comps['p_holm'].iloc[2])
    lines = comparison_lines(comps, {})
    assert lines[0] == (
        f'a vs base: +4.0 mIoU (95 % CI [{wa["ci_low"]:+.1f}, '
        f'{wa["ci_high"]:+.1f}], p = {wa["p"]:.3f}, Holm p = '
        f'{min(1, 2 * min(wa["p"], wb["p"])):.3f}, Welch\'s t-test, 3 vs 3 '
        'seeds)')
    assert lines[2] == ('one vs base: +9.0 mIoU (95 % CI n/a, p n/a, Holm '
                        "p n/a, Welch's t-test, 1 vs 3 seeds)")


def test_holm():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx(
        [0.03, 0.06, 0.06, 0.02])
    out = holm([0.5, float('nan'), 0.01])
    assert out[0] == pytest.approx(0.5) and out[2] == pytest.approx(0.02)
    assert math.isnan(out[1])
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # 2 x 0.8 capped at 1; monotone
    assert holm([]) == []


def test_selection_seed_lines_say_na_for_one_seed():
    from clst_mmseg.benchmark.selection_report import seed_lines
    picks = pd.DataFrame(
        [dict(protocol='last', method='a', selected=v) for v in (1, 2, 3)] +
        [dict(protocol='last', method='b', selected=5.0)])
    line = seed_lines(picks, [('a', 'b')], {}, 'mIoU')[0]
    assert line == ("a vs b: -3.0 mIoU, 95 % CI n/a (p n/a, Welch's "
                    't-test, 3 vs 1 seeds); seeds needed for p < 0.05 at '
                    '80 % power: n/a (one seed)')
    assert 'no seed count' not in line


# --- 21.11: aggregates over tasks and seeds --------------------------------


def test_iqm_and_probability_of_improvement_follow_rliable():
    x = {'t1': np.array([1.0, 2.0, 3.0]), 't2': np.array([5.0, 5.0])}
    y = {'t1': np.array([2.0, 2.0, 0.0]), 't2': np.array([5.0, 5.0]),
         't3': np.array([9.0])}
    assert iqm(x) == pytest.approx(stats.trim_mean([1, 2, 3, 5, 5], 0.25))
    # rliable: Mann-Whitney U / (n_x n_y) per task (ties count 1/2; 0.5
    # for identical runs), averaged over the tasks both ran
    u = stats.mannwhitneyu(x['t1'], y['t1'], alternative='greater')[0]
    assert probability_of_improvement(x, y) == pytest.approx(
        (u / 9 + 0.5) / 2)
    runs = {'base': {'t1': np.array([10.0, 12.0])},
            'top': {'t1': np.array([31.0, 31.0])},
            'm': {'t1': np.array([11.0, 20.0])}}
    assert normalise(runs, 'base', 'base', 'top')['t1'] == pytest.approx(
        [-5.0, 5.0])
    assert normalise(runs, 'm', 'base', 'top')['t1'] == pytest.approx(
        [0.0, 45.0])
    assert normalise(runs, 'm', 'base', 'nobody') == {}


def test_bootstrap_is_stratified_by_task():
    """Seeds are resampled within each task: two tasks without seed noise
    give an interval of width 0 (a pooled bootstrap would mix them)."""
    runs = {'t1': np.zeros(3), 't2': np.full(3, 10.0)}
    assert iqm(runs) == pytest.approx(5.0)
    assert iqm_interval(runs) == pytest.approx((5.0, 5.0))
    assert improvement_interval(runs, {'t1': np.ones(3),
                                       't2': np.full(3, 9.0)}) == \
        pytest.approx((0.5, 0.5))


def test_simulated_coverage_of_the_iqm_interval():
    """The figure the reports quote beside the aggregates."""
    rng = np.random.default_rng(1)
    n = 400
    hits = sum(
        lo <= 0.0 <= hi for lo, hi in (
            iqm_interval({t: rng.normal(0, 1, 3) for t in 'abc'},
                         reps=1000, seed=k) for k in range(n)))
    assert abs(hits / n - SIMULATED_COVERAGE) <= 0.06


# --- 25.2: rank agreement between tasks ------------------------------------


def _tasks_frame(orders, seeds=3, noise=0.0):
    """Methods m0.. scored by their place in each task's order."""
    rng = np.random.default_rng(0)
    scores = {}
    for task, order in orders.items():
        for place, m in enumerate(order):
            scores[(task, m)] = list(10.0 * (len(order) - place) +
                                     noise * rng.standard_normal(seeds))
    return _frame(scores)


def test_kendall_tau_matches_scipy():
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 4, 6).astype(float)  # with ties
        y = rng.integers(0, 4, 6).astype(float)
        expected = stats.kendalltau(x, y)[0]
        got = kendall_tau(x[None], y[None])[0]
        assert got == pytest.approx(expected, nan_ok=True)


def test_rank_agreement_of_constructed_orders():
    frame = _tasks_frame({'a': ['m0', 'm1', 'm2', 'm3'],
                          'b': ['m0', 'm1', 'm3', 'm2'],
                          'c': ['m3', 'm2', 'm1', 'm0']})
    runs = runs_by_task(frame, ['a', 'b', 'c'])
    methods = ['m0', 'm1', 'm2', 'm3']
    agree = rank_agreement(runs, ['a', 'b', 'c'], methods)
    tau = {(r.task_a, r.task_b): r for r in agree.itertuples()}
    # one swapped pair of 6: (5 - 1) / 6; reversed: -1; no seed noise
    assert tau[('a', 'b')].tau == pytest.approx(4 / 6)
    assert (tau[('a', 'b')].tau_low, tau[('a', 'b')].tau_high) == \
        pytest.approx((4 / 6, 4 / 6))
    assert tau[('a', 'c')].tau == pytest.approx(-1.0)
    assert tau[('b', 'c')].tau == pytest.approx(-4 / 6)
    assert set(agree['n_methods']) == {4}
    # a and b only: m2/m3 swap, the other five pairs keep their order
    pairs = consistent_pairs(runs, ['a', 'b'], methods)
    assert [(p['better'], p['worse']) for p in pairs] == [
        ('m0', 'm1'), ('m0', 'm2'), ('m0', 'm3'), ('m1', 'm2'), ('m1', 'm3')]
    lines = agreement_lines(agree, pairs, {}, 'mIoU')
    assert ('The tasks order the methods differently; no ranking here holds '
            'across tasks.') in lines
    assert '| a vs b | 4 | 0.67 [0.67, 0.67] |' in lines
    assert '- m0 > m1: a +10.0 n/a, b +10.0 n/a' in lines  # no seed spread


def test_rank_agreement_interval_comes_from_the_seeds():
    frame = _tasks_frame({'a': ['m0', 'm1', 'm2'], 'b': ['m0', 'm1', 'm2']},
                         noise=8.0)
    runs = runs_by_task(frame, ['a', 'b'])
    agree = rank_agreement(runs, ['a', 'b'], ['m0', 'm1', 'm2'])
    r = agree.iloc[0]
    assert r['tau_low'] < r['tau_high'] and r['tau_low'] <= r['tau']
    same = agreement_lines(
        rank_agreement(runs_by_task(_tasks_frame(
            {'a': ['m0', 'm1'], 'b': ['m0', 'm1']}), ['a', 'b']),
            ['a', 'b'], ['m0', 'm1']), [], {}, 'mIoU')
    assert ('The tasks order the methods identically (τ = 1 for every pair '
            'of tasks).') in same


# --- 21.2, 21.11, 25.2, 25.3 through publish --------------------------------


def _suite_with_records(tmp_path, values, extra=''):
    """A fake suite over ``values`` = {(task, method): [mIoU per seed]}
    with its records stored; returns (suite, store)."""
    from clst_mmseg.benchmark.store import ResultsStore
    from clst_mmseg.benchmark.suite import load_suite
    from test_benchmark_fakes import make_suite
    tasks = list(dict.fromkeys(t for t, _ in values))
    methods = list(dict.fromkeys(m for _, m in values))
    seeds = max(len(v) for v in values.values())
    suite = load_suite(make_suite(str(tmp_path), methods=methods,
                                  tasks=tasks, seeds=range(seeds),
                                  extra=extra))
    store = ResultsStore(suite.results_dir)
    for run in suite.runs:
        vals = values.get((run.task, run.method), [])
        if run.seed < len(vals):
            store.write(dict(
                _rec(run.task, run.method, run.seed, vals[run.seed]),
                run_id=run.run_id, config_hash=run.config_hash, schema=1,
                resolved_config=run.resolved_config, reason=None, started_at=None, resumed=False, attempts=[],
                checkpoint=dict(path='x.pth', iteration=10),
                devices=dict(type='cpu', count=1)))
    return suite, store


VALUES = {('mini', 'source_only'): [40, 41, 42],
          ('mini', 'clst'): [45, 46, 47],
          ('mini', 'dacs'): [43, 44, 45],
          ('mini', 'oracle'): [70, 71, 72],
          ('adverse', 'source_only'): [30, 31, 32],
          ('adverse', 'clst'): [33, 31, 35],
          ('adverse', 'dacs'): [38, 39, 40],
          ('adverse', 'oracle'): [50, 50, 50]}


def test_stale_report_is_removed_when_no_record_is_left(tmp_path, capsys):
    from clst_mmseg.benchmark.cli import main
    suite, store = _suite_with_records(tmp_path, VALUES)
    assert main([suite.path, '--report-only']) == 0
    adverse = osp.join(suite.results_dir, 'adverse')
    cross = osp.join(suite.results_dir, 'leaderboard_cross_task')
    assert osp.isfile(osp.join(adverse, 'leaderboard.md'))
    assert osp.isfile(f'{cross}.md') and osp.isfile(f'{cross}.tex')
    # every adverse run diverged: its old rows must not survive
    for run in suite.runs:
        if run.task == 'adverse':
            rec = store.read(run.task, run.run_id)
            store.write(dict(rec, status='failed', metrics=None,
                             reason=dict(kind='non_finite',
                                         message='loss nan at 3')))
    capsys.readouterr()
    assert main([suite.path, '--report-only']) == 0
    out = capsys.readouterr().out
    assert 'adverse: no finished run yet; nothing to report' in out
    assert 'adverse: removed ' in out and 'leaderboard.md' in out
    assert not any(name.startswith('leaderboard')
                   for name in os.listdir(adverse))
    # the cross-task summary included adverse: one task left, none written
    assert not osp.exists(f'{cross}.md') and not osp.exists(f'{cross}.tex')
    assert 'across tasks: removed ' in out
    assert osp.isfile(osp.join(suite.results_dir, 'mini', 'leaderboard.md'))


def test_a_plot_whose_data_is_gone_is_removed(tmp_path):
    from clst_mmseg.benchmark.publish import publish
    suite, store = _suite_with_records(
        tmp_path, {('mini', 'source_only'): [40, 41],
                   ('mini', 'clst'): [45, 46]})
    for run in suite.runs:  # a curve: the curves plot is written
        rec = store.read(run.task, run.run_id)
        store.write(dict(rec, curve=[dict(step=5, mIoU=30.0),
                                     dict(step=10, mIoU=40.0)]))
    publish(suite, store, echo=lambda s: None)
    curves = osp.join(suite.results_dir, 'mini', 'leaderboard_curves.png')
    assert osp.isfile(curves)
    for run in suite.runs:  # the curves go: so does their plot
        rec = store.read(run.task, run.run_id)
        store.write(dict(rec, curve=[]))
    printed = []
    publish(suite, store, echo=printed.append)
    assert not osp.exists(curves)
    assert not osp.exists(curves[:-4] + '.svg')
    assert any(p.startswith('mini: removed 3 stale report file(s)')
               for p in printed)


def test_cross_task_report_aggregates_agreement_and_scope(tmp_path):
    from clst_mmseg.benchmark.publish import publish
    from clst_mmseg.benchmark.tables import CPU_SCOPE
    suite, store = _suite_with_records(tmp_path, VALUES,
                                       extra='cpu_tasks = True\n')
    printed = []
    publish(suite, store, echo=printed.append)
    md = open(osp.join(suite.results_dir,
                       'leaderboard_cross_task.md')).read()
    assert CPU_SCOPE in md
    runs = runs_by_task(records_frame(
        [store.read(r.task, r.run_id) for r in suite.runs]),
        ['mini', 'adverse'])
    norm = normalise(runs, 'clst', 'source_only', 'oracle')
    lo, hi = iqm_interval(norm)
    poi = probability_of_improvement(runs['clst'], runs['source_only'])
    assert f'| CLST | {iqm(norm):.1f} [{lo:.1f}, {hi:.1f}] | {poi:.2f}' in md
    assert '| 3 seeds on each of 2 tasks |' in md
    assert 'Source only: 3 seeds on each of 2 tasks.' in md
    # the tasks disagree on CLST vs DACS (mini: CLST ahead)
    assert '| mini vs adverse | 2 | -1.00' in md
    assert 'no ranking here holds across tasks' in md
    tex = open(osp.join(suite.results_dir,
                        'leaderboard_cross_task.tex')).read()
    assert r'\label{tab:cross-task-aggregates}' in tex
    assert r'Kendall $\tau$' in tex
    mini = open(osp.join(suite.results_dir, 'mini', 'leaderboard.md')).read()
    assert CPU_SCOPE in mini.split('| Method |')[0]  # beside the table
    # without the flag, no scope line
    plain, store = _suite_with_records(tmp_path / 'plain', VALUES)
    publish(plain, store, echo=lambda s: None)
    assert CPU_SCOPE not in open(osp.join(
        plain.results_dir, 'mini', 'leaderboard.md')).read()


def test_cpu_tasks_must_be_a_bool(tmp_path):
    from clst_mmseg.benchmark.suite import SuiteError, load_suite
    from test_benchmark_fakes import make_suite
    path = make_suite(str(tmp_path), extra="cpu_tasks = 'yes'\n")
    with pytest.raises(SuiteError, match="cpu_tasks must be True or False"):
        load_suite(path)
