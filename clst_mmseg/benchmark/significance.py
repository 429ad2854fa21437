"""Is one method better than another over seeds? Welch's t-test (unequal
variances: methods differ in how much they vary across seeds)."""
import math
from typing import Dict, Sequence

import numpy as np
from scipy import stats


def welch(a: Sequence[float], b: Sequence[float]) -> Dict:
    """Welch's two-sided t-test of mean(a) - mean(b).

    Args:
        a (Sequence[float]): Scores of method A, one per seed.
        b (Sequence[float]): Scores of method B, one per seed.

    Returns:
        dict: ``diff`` (mean a - mean b), ``t``, ``df``, ``p`` (NaN when a
        side has fewer than 2 seeds or both have zero variance), ``n_a``,
        ``n_b``.
    """
    a = np.asarray([x for x in a if x is not None and not math.isnan(x)],
                   dtype=np.float64)
    b = np.asarray([x for x in b if x is not None and not math.isnan(x)],
                   dtype=np.float64)
    out = dict(diff=float(a.mean() - b.mean()) if len(a) and len(b) else
               float('nan'), t=float('nan'), df=float('nan'),
               p=float('nan'), n_a=len(a), n_b=len(b))
    if len(a) < 2 or len(b) < 2:
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return out
    res = stats.ttest_ind(a, b, equal_var=False)
    out['t'] = float(res.statistic)
    out['p'] = float(res.pvalue)
    out['df'] = float((va + vb)**2 / (va**2 / (len(a) - 1) + vb**2 /
                                      (len(b) - 1)))
    return out


def format_p(p: float) -> str:
    """``p = 0.012``, ``p < 0.001`` or ``p n/a``."""
    if p is None or math.isnan(p):
        return 'p n/a'
    return 'p < 0.001' if p < 0.001 else f'p = {p:.3f}'
