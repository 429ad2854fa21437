"""The leaderboard across tasks: per method its gain over the baseline on
each task, the mean gain, the mean rank and a flag wherever it falls below
the baseline.

Pure functions over :func:`~.report.records_frame` (as DomainBed's
``collect_results`` ranks algorithms over data sets): nothing here reads
files, so the summary can always be rebuilt from the stored records. Each
task is scored by its headline metric (:func:`~.report.task_metrics`, first
key: ``mIoU`` on the built-in tasks, ``mIoU19`` / ``mIoU16`` on the real
ones); a gain is in points of that metric.
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .report import task_metrics
from .significance import format_p, welch

DASH = '–'
#: Marks a task on which a method's mean is below the baseline's.
BELOW = '↓'


def _baseline(methods: Sequence[Dict], baseline: Optional[str]) -> str:
    if baseline is not None:
        return baseline
    names = [m['name'] for m in methods if m.get('role') == 'baseline']
    if len(names) != 1:
        raise ValueError('cross-task summary: name the baseline (exactly one '
                         f'method with role "baseline", got {names})')
    return names[0]


def task_scores(frame: pd.DataFrame, tasks: Sequence[str],
                methods: Sequence[Dict],
                baseline: Optional[str] = None) -> pd.DataFrame:
    """Each method's score on each task, against the baseline.

    Args:
        frame (pd.DataFrame): :func:`~.report.records_frame` output.
        tasks (list[str]): Task keys, in display order.
        methods (list[dict]): Rows as for :func:`~.report.leaderboard`:
            ``name``, ``title``, ``role`` (``baseline``, ``method``,
            ``upper_bound``).
        baseline (str, optional): Method the gains are taken against;
            defaults to the one method with role ``baseline``.

    Returns:
        pd.DataFrame: One row per (task, method) with finished runs: ``task,
        metric, method, title, role, n_seeds, mean, std`` (ddof=1),
        ``baseline_mean``, ``gain`` (mean - baseline mean), ``p`` (Welch's
        t-test against the baseline's seeds), ``below`` (gain < 0) and
        ``rank`` (1 = best mean among the methods and the baseline of that
        task, ties share the lower rank; NaN for upper bounds).
    """
    base = _baseline(methods, baseline)
    rows = []
    if len(frame) == 0:
        return pd.DataFrame(rows)
    for task in tasks:
        sub = frame[frame['task'] == task]
        if sub.empty:
            continue
        metric = task_metrics(sub)[0]
        base_runs = sub.loc[sub['method'] == base, metric].dropna()
        base_mean = base_runs.mean() if len(base_runs) else np.nan
        task_rows = []
        for m in methods:
            runs = sub.loc[sub['method'] == m['name'], metric].dropna()
            if runs.empty:
                continue
            gain = runs.mean() - base_mean
            p = (welch(runs.tolist(), base_runs.tolist())['p']
                 if m['name'] != base and len(base_runs) else np.nan)
            task_rows.append(dict(
                task=task, metric=metric, method=m['name'],
                title=m.get('title', m['name']),
                role=m.get('role', 'method'), n_seeds=len(runs),
                mean=runs.mean(), std=runs.std(ddof=1),
                baseline_mean=base_mean, gain=gain, p=p,
                below=bool(gain < 0)))
        ranked = [r for r in task_rows if r['role'] != 'upper_bound']
        order = pd.Series([r['mean'] for r in ranked]).rank(
            ascending=False, method='min')
        for r, rank in zip(ranked, order):
            r['rank'] = float(rank)
        rows += task_rows
    out = pd.DataFrame(rows)
    if len(out) and 'rank' not in out:
        out['rank'] = np.nan
    return out


def cross_task_summary(scores: pd.DataFrame, tasks: Sequence[str],
                       methods: Sequence[Dict]) -> pd.DataFrame:
    """One row per method over every task.

    Args:
        scores (pd.DataFrame): :func:`task_scores` output.
        tasks (list[str]): Task keys, in column order.
        methods (list[dict]): Rows (``name``, ``title``, ``role``), in row
            order.

    Returns:
        pd.DataFrame: ``method, title, role``; per task ``gain.<task>``,
        ``p.<task>``, ``below.<task>`` (NaN / False where the method has no
        runs on the task); ``mean_gain`` and ``mean_rank`` over the tasks
        the method ran on, ``n_tasks`` (that count) and ``n_below`` (tasks
        on which it is below the baseline). Methods without any finished run
        are left out.
    """
    rows = []
    for m in methods:
        own = scores[scores['method'] == m['name']] if len(scores) else scores
        if own.empty:
            continue
        row = dict(method=m['name'], title=m.get('title', m['name']),
                   role=m.get('role', 'method'))
        by_task = own.set_index('task')
        for task in tasks:
            hit = task in by_task.index
            row[f'gain.{task}'] = by_task.at[task, 'gain'] if hit else np.nan
            row[f'p.{task}'] = by_task.at[task, 'p'] if hit else np.nan
            row[f'below.{task}'] = bool(by_task.at[task, 'below']) \
                if hit else False
        done = own[own['task'].isin(tasks)]
        row.update(mean_gain=done['gain'].mean(),
                   mean_rank=done['rank'].mean(), n_tasks=len(done),
                   n_below=int(done['below'].sum()))
        rows.append(row)
    return pd.DataFrame(rows)


def _gain_cell(gain: float, below: bool) -> str:
    if gain is None or math.isnan(gain):
        return DASH
    return f'{gain:+.1f}' + (f' {BELOW}' if below else '')


def summary_markdown(summary: pd.DataFrame, scores: pd.DataFrame,
                     tasks: Sequence[str], task_titles: Dict[str, str],
                     baseline_title: str) -> str:
    """The cross-task summary as Markdown (a heading, the table, notes).

    Args:
        summary (pd.DataFrame): :func:`cross_task_summary` output.
        scores (pd.DataFrame): :func:`task_scores` output (the baseline's
            score and the metric of each task, for the header).
        tasks (list[str]): Task keys, in column order.
        task_titles (dict): Task key -> display name.
        baseline_title (str): Display name of the baseline.

    Returns:
        str: Markdown, ending with a newline.
    """
    header = ['Method']
    for task in tasks:
        sub = scores[scores['task'] == task] if len(scores) else scores
        if sub.empty:
            header.append(f'{task_titles.get(task, task)}: Δ')
            continue
        base = sub['baseline_mean'].iloc[0]
        ref = DASH if math.isnan(base) else f'{base:.1f}'
        metric = sub['metric'].iloc[0]
        header.append(f'{task_titles.get(task, task)}: Δ {metric} (vs {ref})')
    header += ['Mean Δ', 'Mean rank', 'Tasks below']
    lines = ['### Across tasks', '',
             f'Gain over {baseline_title} on each task (points of its '
             'headline metric, mean over seeds) and rank on each task '
             '(1 = best of the methods and the baseline), averaged over '
             'tasks.', '',
             '| ' + ' | '.join(header) + ' |',
             '|' + '|'.join([':---'] + ['---:'] * (len(header) - 1)) + '|']
    for _, r in summary.iterrows():
        is_base = r['role'] == 'baseline'
        cells = [r['title'] if r['role'] == 'method' else f'*{r["title"]}*']
        for task in tasks:
            cells.append(DASH if is_base else
                         _gain_cell(r[f'gain.{task}'], r[f'below.{task}']))
        cells.append(DASH if is_base else _gain_cell(r['mean_gain'], False))
        cells.append(DASH if math.isnan(r['mean_rank'])
                     else f'{r["mean_rank"]:.2f}')
        cells.append(DASH if is_base or r['role'] == 'upper_bound'
                     else f'{r["n_below"]} of {r["n_tasks"]}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'{BELOW}: below {baseline_title} on that task.']
    flagged = summary_flags(scores)
    if flagged:
        lines += [''] + [f'- {f}' for f in flagged]
    incomplete = summary[(summary['n_tasks'] < len(tasks))
                         & (summary['role'] != 'baseline')]
    if len(incomplete):
        lines += ['', 'Not run on every task (means over fewer tasks): ' +
                  ', '.join(incomplete['title']) + '.']
    return '\n'.join(lines) + '\n'


def summary_flags(scores: pd.DataFrame) -> List[str]:
    """``'CLST on adverse: 34.7 vs 37.2 (-2.5 mIoU, p = 0.030)'`` for every
    method (not upper bound) below the baseline on a task."""
    if len(scores) == 0:
        return []
    low = scores[scores['below'] & (scores['role'] == 'method')]
    return [f'{r["title"]} on {r["task"]}: {r["mean"]:.1f} vs '
            f'{r["baseline_mean"]:.1f} ({r["gain"]:+.1f} {r["metric"]}, '
            f'{format_p(r["p"])})' for _, r in low.iterrows()]
