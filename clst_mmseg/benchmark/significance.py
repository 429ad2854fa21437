"""Is one method better than another over seeds? Welch's t-test (unequal
variances: methods differ in how much they vary across seeds), the Welch
t-interval of the difference that goes with it (the interval excludes 0
exactly when the two-sided p is below 1 - level), and Holm's correction for
the several comparisons of one report.

With 3 seeds a side a percentile bootstrap interval is far too narrow (it
resamples three values); the t-interval's coverage at that size is what
``tests/test_benchmark_statistics.py`` simulates.
"""
import math
from typing import Dict, List, Sequence

import numpy as np
from scipy import stats

#: Confidence level of every interval in the reports.
LEVEL = 0.95


def _finite(x: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in x if v is not None and not math.isnan(v)],
                      dtype=np.float64)


def welch(a: Sequence[float], b: Sequence[float],
          level: float = LEVEL) -> Dict:
    """Welch's two-sided t-test of mean(a) - mean(b) and its t-interval.

    Args:
        a (Sequence[float]): Scores of method A, one per seed.
        b (Sequence[float]): Scores of method B, one per seed.
        level (float): Confidence level of the interval. Defaults to 0.95.

    Returns:
        dict: ``diff`` (mean a - mean b), ``t``, ``df`` (Welch-Satterthwaite),
        ``p``, ``ci_low``, ``ci_high`` (``diff`` ± the t quantile at ``df``
        times the standard error), ``n_a``, ``n_b``. Everything but ``diff``
        and the counts is NaN when a side has fewer than 2 seeds or both
        have zero variance.
    """
    a, b = _finite(a), _finite(b)
    out = dict(diff=float(a.mean() - b.mean()) if len(a) and len(b) else
               float('nan'), t=float('nan'), df=float('nan'),
               p=float('nan'), ci_low=float('nan'), ci_high=float('nan'),
               n_a=len(a), n_b=len(b))
    if len(a) < 2 or len(b) < 2:
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return out
    res = stats.ttest_ind(a, b, equal_var=False)
    df = (va + vb)**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb)
    out.update(t=float(res.statistic), p=float(res.pvalue), df=float(df),
               ci_low=out['diff'] - half, ci_high=out['diff'] + half)
    return out


def holm(pvalues: Sequence[float]) -> List[float]:
    """Holm's step-down adjustment of the p-values of one family of tests
    (controls the family-wise error rate; no independence assumed).

    Args:
        pvalues (Sequence[float]): Raw p-values; NaN ones (tests that could
            not be run) are left NaN and not counted in the family.

    Returns:
        list[float]: Adjusted p-values, in the input order.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(len(p), np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind='stable')]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def format_p(p: float) -> str:
    """``p = 0.012``, ``p < 0.001`` or ``p n/a``."""
    if p is None or math.isnan(p):
        return 'p n/a'
    return 'p < 0.001' if p < 0.001 else f'p = {p:.3f}'


def format_interval(low: float, high: float, fmt: str = '+.1f') -> str:
    """``[-7.4, +2.6]`` or ``n/a``."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return 'n/a'
    return f'[{low:{fmt}}, {high:{fmt}}]'


def format_ci(low: float, high: float, level: float = LEVEL) -> str:
    """``95 % CI [-7.4, +2.6]`` or ``95 % CI n/a``."""
    return f'{level * 100:g} % CI {format_interval(low, high)}'
