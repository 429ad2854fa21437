"""Aggregates over tasks and seeds, as the field's statistics guidance
recommends for few-seed results: Agarwal et al., "Deep Reinforcement
Learning at the Edge of the Statistical Precipice", NeurIPS 2021, and its
library rliable (github.com/google-research/rliable). rliable itself does
not import on this stack (its ``arch`` dependency breaks on pandas 3), so
its definitions are implemented here with numpy and scipy:

- interquartile mean (IQM): ``scipy.stats.trim_mean(scores, 0.25)`` over
  every run of every task pooled (rliable ``metrics.aggregate_iqm``);
- probability of improvement P(X > Y): per task the Mann-Whitney U of X's
  runs against Y's divided by ``n_x * n_y`` (ties count one half; 0.5 where
  both hold the same values), averaged over tasks (rliable
  ``metrics.probability_of_improvement``);
- intervals: percentile bootstrap with the runs resampled with replacement
  within each task, independently per method (rliable
  ``StratifiedBootstrap`` / ``StratifiedIndependentBootstrap`` with
  ``get_interval_estimates(method='percentile')``); unlike rliable, a task
  may have a different number of seeds per method.

Scores are normalised per task as rliable normalises by reference scores:
0 = the baseline (source-only), 100 = the upper bound (oracle), both their
means over seeds, held fixed in the bootstrap (their own seed noise is not
in the intervals).

With 3 seeds per task these intervals resample three values per task and
are too narrow: the IQM interval on 3 tasks x 3 seeds covers the true value
about 85 % of the time for a nominal 95 % (:data:`SIMULATED_COVERAGE`,
simulated in ``tests/test_benchmark_statistics.py``). The reports say so
beside them.

Also here: Kendall's tau between two tasks' orders of the methods, with
the same bootstrap over seeds, and the pairs of methods whose order holds
on every task. Pure functions over :func:`~.report.records_frame`.
"""
from itertools import combinations
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import stats

from .report import task_metrics
from .significance import LEVEL, welch

#: Bootstrap resamples of every interval (fixed seed: a report rebuilt from
#: the same records is byte-identical).
N_BOOT = 10000
BOOT_SEED = 0

#: Coverage of a nominal 95 % stratified-bootstrap IQM interval on 3 tasks
#: x 3 seeds of normal scores (the test simulates it again).
SIMULATED_COVERAGE = 0.85

Runs = Dict[str, np.ndarray]  # task -> one score per seed


def runs_by_task(frame: pd.DataFrame,
                 tasks: Sequence[str]) -> Dict[str, Runs]:
    """Each method's headline scores (the task's first metric,
    :func:`~.report.task_metrics`) per task, finished seeds only.

    Returns:
        dict: method -> {task: array of scores, one per seed}.
    """
    out: Dict[str, Runs] = {}
    if len(frame) == 0:
        return out
    for task in tasks:
        sub = frame[frame['task'] == task]
        if sub.empty:
            continue
        metric = task_metrics(sub)[0]
        for method, runs in sub.groupby('method', sort=False):
            values = runs.sort_values('seed')[metric].dropna()
            if len(values):
                out.setdefault(method, {})[task] = values.to_numpy(float)
    return out


def normalise(runs: Dict[str, Runs], method: str, baseline: str,
              upper: str) -> Runs:
    """``100 * (score - baseline mean) / (upper mean - baseline mean)`` per
    task, on the tasks where the method, the baseline and the upper bound
    all ran (and the upper bound's mean differs from the baseline's)."""
    out = {}
    for task, values in runs.get(method, {}).items():
        base = runs.get(baseline, {}).get(task)
        top = runs.get(upper, {}).get(task)
        if base is None or top is None or top.mean() == base.mean():
            continue
        out[task] = 100.0 * (values - base.mean()) / (top.mean() -
                                                      base.mean())
    return out


def iqm(runs: Runs) -> float:
    """Interquartile mean of every run of every task (rliable
    ``aggregate_iqm``: a 25 % trimmed mean of the pooled scores)."""
    pooled = np.concatenate([np.asarray(v, float) for v in runs.values()])
    return float(stats.trim_mean(pooled, 0.25)) if len(pooled) else np.nan


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 of the last axis' runs, per leading index
    (rows are bootstrap resamples)."""
    gt = (x[..., :, None] > y[..., None, :]).mean((-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).mean((-2, -1))
    return gt + 0.5 * eq


def probability_of_improvement(x: Runs, y: Runs) -> float:
    """P(a run of X beats a run of Y on the same task), averaged over the
    tasks both ran (rliable ``probability_of_improvement``)."""
    tasks = [t for t in x if t in y]
    if not tasks:
        return np.nan
    return float(np.mean([
        _improvement(np.asarray(x[t], float), np.asarray(y[t], float))
        for t in tasks
    ]))


def _resample(values: np.ndarray, rng: np.random.Generator,
              reps: int) -> np.ndarray:
    """``reps`` bootstrap resamples of one method's runs on one task."""
    values = np.asarray(values, float)
    return values[rng.integers(0, len(values), (reps, len(values)))]


def _percentile(boot: np.ndarray, level: float) -> Tuple[float, float]:
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return float(low), float(high)


def iqm_interval(runs: Runs, level: float = LEVEL, reps: int = N_BOOT,
                 seed: int = BOOT_SEED) -> Tuple[float, float]:
    """Stratified percentile-bootstrap interval of :func:`iqm` (the runs
    resampled within each task)."""
    if not runs:
        return np.nan, np.nan
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([_resample(runs[t], rng, reps) for t in runs],
                            axis=1)
    return _percentile(stats.trim_mean(pooled, 0.25, axis=1), level)


def improvement_interval(x: Runs, y: Runs, level: float = LEVEL,
                         reps: int = N_BOOT,
                         seed: int = BOOT_SEED) -> Tuple[float, float]:
    """Stratified percentile-bootstrap interval of
    :func:`probability_of_improvement` (each method's runs resampled within
    each task, independently of the other's)."""
    tasks = [t for t in x if t in y]
    if not tasks:
        return np.nan, np.nan
    rng = np.random.default_rng(seed)
    boot = np.mean([
        _improvement(_resample(x[t], rng, reps), _resample(y[t], rng, reps))
        for t in tasks
    ], axis=0)
    return _percentile(boot, level)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the columns of ``x`` and ``y`` (one score
    per method), row by row (rows: bootstrap resamples); NaN where either
    side has every method tied."""
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    i, j = np.triu_indices(x.shape[1], 1)
    sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    denom = np.sqrt((sx != 0).sum(1) * (sy != 0).sum(1))
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(denom > 0, (sx * sy).sum(1) / denom, np.nan)


def rank_agreement(runs: Dict[str, Runs], tasks: Sequence[str],
                   methods: Sequence[str], level: float = LEVEL,
                   reps: int = N_BOOT,
                   seed: int = BOOT_SEED) -> pd.DataFrame:
    """Kendall's tau between every pair of tasks' orders of the methods
    (by mean over seeds), with a percentile-bootstrap interval (each
    method's seeds resampled within each task).

    Args:
        runs (dict): :func:`runs_by_task` output.
        tasks (list[str]): Task keys, in display order.
        methods (list[str]): The methods ranked (e.g. the adaptation
            methods); each pair of tasks ranks those that ran on both.

    Returns:
        pd.DataFrame: ``task_a, task_b, n_methods, tau, tau_low,
        tau_high`` (NaN below 2 common methods).
    """
    rows = []
    for a, b in combinations(tasks, 2):
        common = [m for m in methods
                  if a in runs.get(m, {}) and b in runs.get(m, {})]
        row = dict(task_a=a, task_b=b, n_methods=len(common), tau=np.nan,
                   tau_low=np.nan, tau_high=np.nan)
        if len(common) >= 2:
            means = [np.array([[runs[m][t].mean() for m in common]])
                     for t in (a, b)]
            rng = np.random.default_rng(seed)
            boot = [np.stack([_resample(runs[m][t], rng, reps).mean(1)
                              for m in common], axis=1) for t in (a, b)]
            taus = kendall_tau(*boot)
            taus = taus[~np.isnan(taus)]
            row['tau'] = float(kendall_tau(*means)[0])
            if len(taus):
                row['tau_low'], row['tau_high'] = _percentile(taus, level)
        rows.append(row)
    return pd.DataFrame(rows)


def consistent_pairs(runs: Dict[str, Runs], tasks: Sequence[str],
                     methods: Sequence[str]) -> List[Dict]:
    """The pairs of methods whose order (by mean over seeds) is the same on
    every task, each with its difference on every task.

    Args:
        runs (dict): :func:`runs_by_task` output.
        tasks (list[str]): Task keys.
        methods (list[str]): Methods to pair (those that ran on every task).

    Returns:
        list[dict]: ``better``, ``worse`` and ``per_task`` (task ->
        :func:`~.significance.welch` of better - worse), in the order of
        ``methods``.
    """
    every = [m for m in methods if all(t in runs.get(m, {}) for t in tasks)]
    out = []
    for a, b in combinations(every, 2):
        signs = {np.sign(runs[a][t].mean() - runs[b][t].mean())
                 for t in tasks}
        if len(signs) != 1 or 0 in signs:
            continue
        better, worse = (a, b) if signs == {1} else (b, a)
        out.append(dict(better=better, worse=worse, per_task={
            t: welch(runs[better][t], runs[worse][t]) for t in tasks}))
    return out


def aggregate_table(runs: Dict[str, Runs], methods: Sequence[Dict],
                    baseline: str, upper: Optional[str]) -> pd.DataFrame:
    """Per adaptation method: the IQM of its normalised scores and its
    probability of improvement over the baseline, each with its interval,
    and what each rests on.

    Args:
        runs (dict): :func:`runs_by_task` output.
        methods (list[dict]): Rows (``name``, ``title``, ``role``); only
            role ``method`` is aggregated.
        baseline (str): Method at 0 and compared against.
        upper (str, optional): Method at 100 (no normalised score without
            one).

    Returns:
        pd.DataFrame: ``method, title, iqm, iqm_low, iqm_high, iqm_tasks,
        poi, poi_low, poi_high, poi_tasks, seeds`` (``<task>: <n>`` per
        task the method ran on) and ``baseline_seeds`` (the same for the
        baseline, on the tasks compared).
    """
    rows = []
    for m in methods:
        if m.get('role', 'method') != 'method' or m['name'] not in runs:
            continue
        own = runs[m['name']]
        norm = normalise(runs, m['name'], baseline, upper) if upper else {}
        base = runs.get(baseline, {})
        iqm_ci = iqm_interval(norm)
        poi_ci = improvement_interval(own, base)
        rows.append(dict(
            method=m['name'], title=m.get('title', m['name']),
            iqm=iqm(norm) if norm else np.nan, iqm_low=iqm_ci[0],
            iqm_high=iqm_ci[1], iqm_tasks=len(norm),
            poi=probability_of_improvement(own, base), poi_low=poi_ci[0],
            poi_high=poi_ci[1], poi_tasks=sum(t in base for t in own),
            seeds=seed_counts(own),
            baseline_seeds=seed_counts({t: v for t, v in base.items()
                                        if t in own})))
    return pd.DataFrame(rows)


def seed_counts(runs: Runs) -> str:
    """``'3 seeds on each of 2 tasks'`` or ``'mini 3, adverse 2 seeds'``."""
    counts = [len(v) for v in runs.values()]
    if not counts:
        return '–'
    if len(set(counts)) == 1:
        task = 'task' if len(counts) == 1 else 'tasks'
        each = '' if len(counts) == 1 else 'each of '
        return f'{counts[0]} seeds on {each}{len(counts)} {task}'
    return ', '.join(f'{t} {len(v)}' for t, v in runs.items()) + ' seeds'


def named_improvements(runs: Dict[str, Runs],
                       pairs: Sequence[Tuple[str, str]],
                       skip: Sequence[str] = ()) -> pd.DataFrame:
    """P(a > b) with its interval for each named pair (``b`` not in
    ``skip``, e.g. the baseline already in :func:`aggregate_table`).

    Returns:
        pd.DataFrame: ``a, b, poi, poi_low, poi_high, tasks, seeds_a,
        seeds_b`` for the pairs with runs on a common task.
    """
    rows = []
    for a, b in pairs:
        if b in skip or a not in runs or b not in runs:
            continue
        x, y = runs[a], runs[b]
        common = [t for t in x if t in y]
        if not common:
            continue
        low, high = improvement_interval(x, y)
        rows.append(dict(a=a, b=b, poi=probability_of_improvement(x, y),
                         poi_low=low, poi_high=high, tasks=len(common),
                         seeds_a=seed_counts({t: x[t] for t in common}),
                         seeds_b=seed_counts({t: y[t] for t in common})))
    return pd.DataFrame(rows)
