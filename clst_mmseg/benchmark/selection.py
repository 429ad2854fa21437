"""How much of a reported gain is checkpoint selection? Pure functions over
the checkpoint trajectories that runs store in their records.

A record's ``trajectory`` lists evenly spaced checkpoints of the run, each
``dict(step=..., metrics={<mIoU key>: ...}, criteria={<name>: ...})``:
the target-val score (for this study only) and label-free criteria, all
oriented so that higher is better (see
:data:`clst_mmseg.evaluation.label_free.CRITERIA`). Each *protocol* picks
one checkpoint per run:

- ``last``: the last iterate (the leaderboard's headline);
- ``oracle``: the checkpoint with the best target-val score (what "best of
  snapshots on Cityscapes val" does; needs target labels);
- one protocol per label-free criterion: the checkpoint it scores highest.

The regret of a protocol is ``oracle - selected`` target score, per run.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

LAST, ORACLE = 'last', 'oracle'


def trajectory_frame(records: Sequence[Dict], metric: str) -> pd.DataFrame:
    """One row per (finished run, checkpoint).

    Args:
        records (list[dict]): Run records.
        metric (str): The target-val key scored, e.g. ``'mIoU'``.

    Returns:
        pd.DataFrame: ``task, method, seed, run_id, step, target`` and one
        column per criterion found in the trajectories.
    """
    rows = []
    for rec in records:
        if rec.get('status') != 'finished':
            continue
        for point in rec.get('trajectory') or []:
            value = (point.get('metrics') or {}).get(metric)
            if value is None:
                continue
            rows.append(dict(task=rec['task'], method=rec['method'],
                             seed=rec['seed'], run_id=rec['run_id'],
                             step=int(point['step']), target=float(value),
                             **{k: (np.nan if v is None else float(v))
                                for k, v in (point.get('criteria')
                                             or {}).items()}))
    return pd.DataFrame(rows)


def criteria_of(frame: pd.DataFrame) -> List[str]:
    """The criterion columns of a :func:`trajectory_frame`."""
    fixed = {'task', 'method', 'seed', 'run_id', 'step', 'target'}
    return [c for c in frame.columns if c not in fixed]


def select(frame: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The checkpoint each run's protocol picks.

    Ties go to the later checkpoint; a run whose criterion is missing (NaN)
    at every checkpoint has no selection for that protocol.

    Args:
        frame (pd.DataFrame): :func:`trajectory_frame` output.
        protocol (str): ``'last'``, ``'oracle'`` or a criterion column.

    Returns:
        pd.DataFrame: One row per run: ``task, method, seed, run_id,
        protocol, step, selected`` (its target score), ``oracle`` (the best
        target score of the run), ``last`` and ``regret`` (oracle -
        selected).
    """
    key = {LAST: 'step', ORACLE: 'target'}.get(protocol, protocol)
    if key not in frame:
        raise KeyError(f'no criterion {protocol!r} in the trajectories; '
                       f'known: {criteria_of(frame)}')
    rows = []
    for run_id, runs in frame.groupby('run_id', sort=True):
        runs = runs.sort_values('step')
        scored = runs[runs[key].notna()]
        if scored.empty:
            continue
        # idxmax keeps the first maximum: reverse so ties go to the later
        pick = scored.loc[scored[key][::-1].idxmax()]
        best = float(runs['target'].max())
        rows.append(dict(task=pick['task'], method=pick['method'],
                         seed=int(pick['seed']), run_id=run_id,
                         protocol=protocol, step=int(pick['step']),
                         selected=float(pick['target']), oracle=best,
                         last=float(runs['target'].iloc[-1]),
                         regret=best - float(pick['target'])))
    return pd.DataFrame(rows)


def selections(frame: pd.DataFrame,
               protocols: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """:func:`select` for every protocol (default: last, oracle, then every
    criterion), stacked."""
    protocols = list(protocols or [LAST, ORACLE, *criteria_of(frame)])
    parts = [select(frame, p) for p in protocols]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def protocol_table(picks: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (task, method, protocol): the selected score, its
    sample std, the mean regret and the number of seeds.

    Returns:
        pd.DataFrame: ``task, method, protocol, mean, std, regret, n``.
    """
    if picks.empty:
        return pd.DataFrame(columns=['task', 'method', 'protocol', 'mean',
                                     'std', 'regret', 'n'])
    g = picks.groupby(['task', 'method', 'protocol'], sort=False)
    out = g.agg(mean=('selected', 'mean'), std=('selected', 'std'),
                regret=('regret', 'mean'), n=('selected', 'size'))
    return out.reset_index()


def protocol_ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Rank of every method under every protocol (1 = best mean score),
    per task, with Kendall's tau of each protocol's ranking against the
    last-iterate ranking.

    Returns:
        pd.DataFrame: ``task, protocol, method, rank`` plus ``tau_vs_last``
        (NaN for fewer than two methods or no last-iterate ranking).
    """
    rows = []
    for (task, protocol), sub in table.groupby(['task', 'protocol'],
                                               sort=False):
        ranks = sub['mean'].rank(ascending=False, method='min')
        for method, r in zip(sub['method'], ranks):
            rows.append(dict(task=task, protocol=protocol, method=method,
                             rank=int(r)))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    taus = {}
    for (task, protocol), sub in out.groupby(['task', 'protocol']):
        base = out[(out['task'] == task) & (out['protocol'] == LAST)]
        both = sub.merge(base, on='method', suffixes=('', '_last'))
        taus[(task, protocol)] = (
            float(stats.kendalltau(both['rank'], both['rank_last'])[0])
            if len(both) >= 2 else np.nan)
    out['tau_vs_last'] = [taus[(t, p)] for t, p in zip(out['task'],
                                                       out['protocol'])]
    return out


def t_test_power(diff: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t-test with ``n`` seeds per side, a
    true difference ``diff`` and a common standard deviation ``sd``."""
    if n < 2 or sd <= 0:
        return np.nan
    df = 2 * n - 2
    ncp = abs(diff) / (sd * np.sqrt(2.0 / n))
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def seeds_needed(a: Sequence[float], b: Sequence[float], alpha: float = 0.05,
                 power: float = 0.8, max_seeds: int = 1000) -> Optional[int]:
    """Seeds per method a difference of the observed size needs to be
    significant (two-sided t-test at ``alpha``) with probability ``power``,
    taking the observed difference of means as the true one and the pooled
    sample std as the seed noise.

    Returns:
        int | None: The smallest such number of seeds (>= 2); None when the
        observed difference is 0, either side has fewer than 2 seeds, or
        more than ``max_seeds`` would be needed.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return None
    diff = a.mean() - b.mean()
    sd = np.sqrt((a.var(ddof=1) * (len(a) - 1) + b.var(ddof=1) *
                  (len(b) - 1)) / (len(a) + len(b) - 2))
    if diff == 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, max_seeds + 1):
        if t_test_power(diff, sd, n, alpha) >= power:
            return n
    return None
