"""Whether a suite still measures what it is for, from its records only:
its wall time, the gap between the context rows (source-only -> oracle),
their seed spread, and whether each method's gain over the baseline agrees,
within seed noise, with a reference run of the suite (e.g. the records of
the longer schedule it replaces). Pure functions over records; printed by
``tools/benchmark_signal.py``.
"""
import datetime
import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple


@dataclass
class Stats:
    """One method's metric over seeds.

    Args:
        n (int): Finished seeds.
        mean (float): Mean over seeds.
        std (float): Sample standard deviation (NaN for one seed).
    """
    n: int
    mean: float
    std: float

    @property
    def se(self) -> float:
        """Standard error of the mean."""
        return self.std / math.sqrt(self.n) if self.n > 1 else math.nan


def method_stats(records: Sequence[Dict],
                 metric: str = 'mIoU') -> Dict[str, Stats]:
    """Mean and sample std of ``metric`` per method over finished
    records."""
    values: Dict[str, List[float]] = {}
    for rec in records:
        value = (rec.get('metrics') or {}).get(metric)
        if rec.get('status') == 'finished' and value is not None:
            values.setdefault(rec['method'], []).append(float(value))
    return {
        m: Stats(len(v), statistics.fmean(v),
                 statistics.stdev(v) if len(v) > 1 else math.nan)
        for m, v in values.items()
    }


def _time(text: Optional[str]) -> Optional[datetime.datetime]:
    try:
        return datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def wall_time(records: Sequence[Dict]) -> Optional[Dict]:
    """First start to last finish of the finished records (the suite's
    wall time when one invocation ran them all), with the runs' own
    wall times."""
    done = [r for r in records if r.get('status') == 'finished']
    starts = [t for t in (_time(r.get('started_at')) for r in done) if t]
    ends = [t for t in (_time(r.get('finished_at')) for r in done) if t]
    if not starts or not ends:
        return None
    runs = [r.get('wall_time_s') or 0.0 for r in done]
    return dict(runs=len(done), seconds=(max(ends) - min(starts))
                .total_seconds(), run_sum_s=sum(runs),
                run_mean_s=sum(runs) / len(runs))


def format_duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f'{m} min {s:02d} s'


def _delta(a: Stats, b: Stats) -> Tuple[float, float]:
    """Difference of means and its standard error."""
    return a.mean - b.mean, math.sqrt(a.se**2 + b.se**2)


@dataclass
class Check:
    """One signal check: what, the value(s), the bound, pass or fail."""
    name: str
    detail: str
    passed: bool

    def line(self) -> str:
        return f'{"PASS" if self.passed else "FAIL"}  {self.name}: ' \
            f'{self.detail}'


def signal_checks(new: Dict[str, Stats], ref: Optional[Dict[str, Stats]],
                  methods: Sequence[str], baseline: str, upper: str,
                  min_gap: float, max_std: float,
                  z: float = 2.0) -> List[Check]:
    """The checks of a suite's records against the targets.

    Args:
        new (dict): Method -> :class:`Stats` of the suite.
        ref (dict, optional): The same for the reference records.
        methods (list[str]): Adaptation methods (not baseline or upper).
        baseline (str): E.g. ``source_only``.
        upper (str): E.g. ``oracle``.
        min_gap (float): Least ``upper - baseline`` mean difference.
        max_std (float): Largest seed std of baseline and upper.
        z (float): A difference counts as beyond seed noise when it exceeds
            ``z`` standard errors. Defaults to 2.

    Returns:
        list[Check]: Gap, spreads, then one check per method (its gain over
        the baseline agrees with the reference's within ``z`` standard
        errors of the two gains) and one for the pairwise order (every pair
        the reference ordered beyond noise keeps its order).
    """
    out = []
    if baseline in new and upper in new:
        gap = new[upper].mean - new[baseline].mean
        out.append(Check(f'gap {upper} - {baseline}',
                         f'{gap:.1f} (>= {min_gap:g})', gap >= min_gap))
    else:
        out.append(Check(f'gap {upper} - {baseline}', 'rows missing', False))
    for m in (baseline, upper):
        std = new[m].std if m in new else math.nan
        out.append(Check(f'seed std {m}', f'{std:.2f} (<= {max_std:g})',
                         std <= max_std))
    if not ref:
        return out
    for m in methods:
        if m not in new or m not in ref or baseline not in ref \
                or baseline not in new:
            out.append(Check(f'gain of {m}', 'rows missing', False))
            continue
        d_new, se_new = _delta(new[m], new[baseline])
        d_ref, se_ref = _delta(ref[m], ref[baseline])
        noise = z * math.sqrt(se_new**2 + se_ref**2)
        out.append(Check(
            f'gain of {m} over {baseline}',
            f'{d_new:+.1f} vs reference {d_ref:+.1f} (|difference| '
            f'{abs(d_new - d_ref):.1f} <= {z:g} SE = {noise:.1f})',
            abs(d_new - d_ref) <= noise))
    flipped = []
    resolved = 0
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            if not all(x in y for x in (a, b) for y in (new, ref)):
                continue
            d_ref, se_ref = _delta(ref[a], ref[b])
            if abs(d_ref) <= z * se_ref:
                continue  # the reference did not order them beyond noise
            resolved += 1
            if (new[a].mean - new[b].mean) * d_ref <= 0:
                flipped.append(f'{a} vs {b}')
    out.append(Check(
        'order of the methods',
        f'{resolved - len(flipped)} of {resolved} pairs the reference '
        f'ordered beyond {z:g} SE keep their order' +
        (f'; flipped: {", ".join(flipped)}' if flipped else ''),
        not flipped))
    return out


def side_by_side(new: Dict[str, Stats], ref: Optional[Dict[str, Stats]],
                 rows: Sequence[Tuple[str, str]], baseline: str) -> str:
    """A Markdown table: each method's mean ± std and gain over the
    baseline, reference next to the suite."""

    def cell(stats: Dict[str, Stats], m: str) -> Tuple[str, str]:
        if not stats or m not in stats:
            return '-', '-'
        s = stats[m]
        std = f' ± {s.std:.1f}' if s.n > 1 else ''
        gain = '' if m == baseline or baseline not in stats else \
            f'{s.mean - stats[baseline].mean:+.1f}'
        return f'{s.mean:.1f}{std} ({s.n})', gain

    lines = ['| Method | reference mIoU | gain | this suite mIoU | gain |',
             '|:---|---:|---:|---:|---:|']
    for name, title in rows:
        r, n = cell(ref, name), cell(new, name)
        lines.append(f'| {title} | {r[0]} | {r[1]} | {n[0]} | {n[1]} |')
    return '\n'.join(lines)
