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
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .report import task_metrics
from .significance import format_ci, format_interval, format_p, welch

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
        ``baseline_mean``, ``gain`` (mean - baseline mean), ``p``,
        ``ci_low``, ``ci_high`` (Welch's t-test against the baseline's seeds
        and its 95 % t-interval), ``below`` (gain < 0) and
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
            test = (welch(runs.tolist(), base_runs.tolist())
                    if m['name'] != base and len(base_runs) else {})
            task_rows.append(dict(
                task=task, metric=metric, method=m['name'],
                title=m.get('title', m['name']),
                role=m.get('role', 'method'), n_seeds=len(runs),
                mean=runs.mean(), std=runs.std(ddof=1),
                baseline_mean=base_mean, gain=gain,
                p=test.get('p', np.nan), ci_low=test.get('ci_low', np.nan),
                ci_high=test.get('ci_high', np.nan), below=bool(gain < 0)))
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
        ``p.<task>``, ``below.<task>``, ``seeds.<task>`` (NaN / False / 0
        where the method has no runs on the task); ``mean_gain`` and
        ``mean_rank`` over the tasks the method ran on, ``n_tasks`` (that
        count) and ``n_below`` (tasks on which it is below the baseline).
        Methods without any finished run are left out.
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
            row[f'seeds.{task}'] = int(by_task.at[task, 'n_seeds']) \
                if hit else 0
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


def summary_table(summary: pd.DataFrame, scores: pd.DataFrame,
                  tasks: Sequence[str], task_titles: Dict[str, str]
                  ) -> Tuple[List[str], List[List[str]], List[str]]:
    """Header, text cells and role of each row of the gain table."""
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
    header += ['Mean Δ', 'Mean rank', 'Tasks below', 'Seeds per task']
    rows = []
    for _, r in summary.iterrows():
        is_base = r['role'] == 'baseline'
        cells = [r['title']]
        for task in tasks:
            cells.append(DASH if is_base else
                         _gain_cell(r[f'gain.{task}'], r[f'below.{task}']))
        cells.append(DASH if is_base else _gain_cell(r['mean_gain'], False))
        cells.append(DASH if math.isnan(r['mean_rank'])
                     else f'{r["mean_rank"]:.2f}')
        cells.append(DASH if is_base or r['role'] == 'upper_bound'
                     else f'{r["n_below"]} of {r["n_tasks"]}')
        cells.append(', '.join(str(r[f'seeds.{t}']) if r[f'seeds.{t}']
                               else DASH for t in tasks))
        rows.append(cells)
    return header, rows, list(summary['role'])


def summary_markdown(summary: pd.DataFrame, scores: pd.DataFrame,
                     tasks: Sequence[str], task_titles: Dict[str, str],
                     baseline_title: str, extra: Sequence[str] = (),
                     scope: str = '') -> str:
    """The cross-task summary as Markdown (a heading, the table, notes).

    Args:
        summary (pd.DataFrame): :func:`cross_task_summary` output.
        scores (pd.DataFrame): :func:`task_scores` output (the baseline's
            score and the metric of each task, for the header).
        tasks (list[str]): Task keys, in column order.
        task_titles (dict): Task key -> display name.
        baseline_title (str): Display name of the baseline.
        extra (list[str]): Lines after the notes (:func:`aggregate_lines`,
            :func:`agreement_lines`).
        scope (str): What the table can support, under the heading.

    Returns:
        str: Markdown, ending with a newline.
    """
    header, rows, roles = summary_table(summary, scores, tasks, task_titles)
    lines = ['### Across tasks', '']
    if scope:
        lines += [scope, '']
    lines += [f'Gain over {baseline_title} on each task (points of its '
              'headline metric, mean over seeds) and rank on each task '
              '(1 = best of the methods and the baseline), averaged over '
              'tasks.', '',
              '| ' + ' | '.join(header) + ' |',
              '|' + '|'.join([':---'] + ['---:'] * (len(header) - 1)) + '|']
    for cells, role in zip(rows, roles):
        if role != 'method':
            cells = [f'*{cells[0]}*'] + cells[1:]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'{BELOW}: below {baseline_title} on that task.']
    flagged = summary_flags(scores)
    if flagged:
        lines += ['', f'Below {baseline_title} (Welch\'s t-test on that '
                  'task, 95 % Welch t-interval; each p-value on its own, '
                  'not corrected for the number of flags):', '']
        lines += [f'- {f}' for f in flagged]
    incomplete = summary[(summary['n_tasks'] < len(tasks))
                         & (summary['role'] != 'baseline')]
    if len(incomplete):
        lines += ['', 'Not run on every task (means over fewer tasks): ' +
                  ', '.join(incomplete['title']) + '.']
    lines += list(extra)
    return '\n'.join(lines) + '\n'


def summary_latex(summary: pd.DataFrame, scores: pd.DataFrame,
                  agg: pd.DataFrame, agreement: pd.DataFrame,
                  tasks: Sequence[str], task_titles: Dict[str, str],
                  baseline_title: str, upper_title: Optional[str],
                  scope: str = '') -> str:
    """The cross-task summary as LaTeX (booktabs): the gain table, the
    aggregates and Kendall's tau per pair of tasks; in each score column
    the best adaptation method in bold, the second best underlined (the
    lowest mean rank is the best).

    Args:
        summary, scores, tasks, task_titles, baseline_title: As for
            :func:`summary_markdown`.
        agg (pd.DataFrame): :func:`~.aggregate.aggregate_table` output.
        agreement (pd.DataFrame): :func:`~.aggregate.rank_agreement`.
        upper_title (str, optional): Display name of the upper bound.
        scope (str): What the tables can support (a comment on top).

    Returns:
        str: LaTeX, ending with a newline.
    """
    from .tables import (TEX_MARKS_NOTE, _tex_table, ranked_marks,
                         tex_escape)
    header, rows, roles = summary_table(summary, scores, tasks, task_titles)
    # column -> (summary key, sign: +1 higher is better, digits shown)
    columns = {1 + i: (f'gain.{t}', 1, 1) for i, t in enumerate(tasks)}
    columns.update({len(tasks) + 1: ('mean_gain', 1, 1),
                    len(tasks) + 2: ('mean_rank', -1, 2)})
    marks = {}
    for j, (key, sign, digits) in columns.items():
        values = [sign * v for v in summary[key]]
        for i, mark in enumerate(ranked_marks(values, roles, digits)):
            if mark:
                marks[(i, j)] = mark
    lines = ['% generated by tools/benchmark.py from the result records',
             '% \\usepackage{booktabs}']
    if scope:
        lines.append(f'% {scope}')
    lines += _tex_table(
        header, rows, roles, tex_escape(
            f'Across tasks: gain over {baseline_title} on each task (points '
            'of its headline metric, mean over seeds), its mean, and the '
            'mean rank (1 = best of the methods and the baseline). '
            f'{BELOW}: below {baseline_title}. {TEX_MARKS_NOTE}'),
        'tab:cross-task', 'l' + 'r' * (len(header) - 1), marks)
    if len(agg):
        agg_header = ['Method', 'IQM normalised score',
                      f'P(> {baseline_title})', 'Rests on']
        agg_rows = [[r['title'],
                     _interval(r['iqm'], r['iqm_low'], r['iqm_high'], '.1f'),
                     _interval(r['poi'], r['poi_low'], r['poi_high'], '.2f'),
                     r['seeds']] for _, r in agg.iterrows()]
        agg_roles = ['method'] * len(agg)
        agg_marks = {}
        for j, key in ((1, 'iqm'), (2, 'poi')):
            for i, mark in enumerate(ranked_marks(
                    list(agg[key]), agg_roles, 1 if key == 'iqm' else 2)):
                if mark:
                    agg_marks[(i, j)] = mark
        norm = (f'normalised score 100 × (score − {baseline_title}) / '
                f'({upper_title} − {baseline_title}) per task; IQM: '
                'interquartile mean over every run of every task; '
                if upper_title else '')
        lines += [''] + _tex_table(
            agg_header, agg_rows, agg_roles, tex_escape(
                f'Aggregates over tasks and seeds (as rliable): {norm}'
                f'P(> {baseline_title}): probability that a run beats a run '
                f'of {baseline_title} on the same task, averaged over tasks; '
                'in brackets the 95 % stratified-bootstrap interval (seeds '
                f'resampled within each task). {TEX_MARKS_NOTE}'),
            'tab:cross-task-aggregates', 'lrrr', agg_marks)
    if len(agreement):
        tau_rows = [[f'{r["task_a"]} vs {r["task_b"]}', str(r['n_methods']),
                     _interval(r['tau'], r['tau_low'], r['tau_high'], '.2f')]
                    for _, r in agreement.iterrows()]
        lines += [''] + _tex_table(
            ['Tasks', 'Methods', 'Kendall τ'], tau_rows,
            ['method'] * len(tau_rows), tex_escape(
                'Rank agreement between tasks: Kendall τ-b between the '
                'orders of the adaptation methods by mean over seeds; in '
                'brackets the 95 % bootstrap interval over seeds.'),
            'tab:cross-task-agreement', 'lrr')
    return '\n'.join(lines) + '\n'


def summary_flags(scores: pd.DataFrame) -> List[str]:
    """``'CLST on adverse: 34.7 vs 37.2 (-2.5 mIoU, 95 % CI [-4.9, -0.1],
    p = 0.030)'`` for every method (not upper bound) below the baseline on
    a task."""
    if len(scores) == 0:
        return []
    low = scores[scores['below'] & (scores['role'] == 'method')]
    return [f'{r["title"]} on {r["task"]}: {r["mean"]:.1f} vs '
            f'{r["baseline_mean"]:.1f} ({r["gain"]:+.1f} {r["metric"]}, '
            f'{format_ci(r["ci_low"], r["ci_high"])}, {format_p(r["p"])})'
            for _, r in low.iterrows()]


def _interval(value: float, low: float, high: float, fmt: str) -> str:
    """``'0.83 [0.67, 1.00]'``; the value alone without an interval."""
    if value is None or math.isnan(value):
        return DASH
    if math.isnan(low):
        return format(value, fmt)
    return f'{value:{fmt}} {format_interval(low, high, fmt)}'


#: The caveat printed under the aggregates.
BOOTSTRAP_COVERAGE_NOTE = (
    'These bootstrap intervals resample only the seeds that ran: with 3 '
    'seeds per task they are too narrow (simulated on 3 tasks × 3 seeds, '
    'the 95 % IQM interval covers the true value {coverage:.0f} % of the '
    'time); read them as a floor on the uncertainty.')


def aggregate_lines(agg: pd.DataFrame, named: pd.DataFrame,
                    titles: Dict[str, str], baseline_title: str,
                    upper_title: Optional[str]) -> List[str]:
    """The aggregate section of the cross-task Markdown.

    Args:
        agg (pd.DataFrame): :func:`~.aggregate.aggregate_table` output.
        named (pd.DataFrame): :func:`~.aggregate.named_improvements`.
        titles (dict): Method key -> display name.
        baseline_title (str): Display name of the baseline (score 0).
        upper_title (str, optional): Display name of the upper bound (score
            100); None: no normalised score.

    Returns:
        list[str]: Lines (empty without an aggregated method).
    """
    from .aggregate import N_BOOT, SIMULATED_COVERAGE
    if agg.empty:
        return []
    norm = (f'normalised score: 100 × (score − {baseline_title}) / '
            f'({upper_title} − {baseline_title}) on each task, both at '
            'their mean over seeds; IQM: interquartile mean over every run '
            'of every task; ' if upper_title else
            f'(no upper-bound row: no normalised score); ')
    lines = ['', f'Aggregates over tasks and seeds (as rliable, Agarwal et '
             f'al. 2021): {norm}P(> {baseline_title}): the probability that '
             f'a run of the method beats a run of {baseline_title} on the '
             'same task, averaged over tasks. In brackets the 95 % '
             'percentile stratified-bootstrap interval (seeds resampled '
             f'within each task, {N_BOOT} resamples).', '',
             f'| Method | IQM normalised score | P(> {baseline_title}) | '
             'Rests on |', '|:---|---:|---:|---:|']
    for _, r in agg.iterrows():
        lines.append(
            f'| {r["title"]} | '
            f'{_interval(r["iqm"], r["iqm_low"], r["iqm_high"], ".1f")} | '
            f'{_interval(r["poi"], r["poi_low"], r["poi_high"], ".2f")} | '
            f'{r["seeds"]} |')
    base_seeds = sorted(set(agg['baseline_seeds']))
    lines += ['', f'{baseline_title}: ' + '; '.join(base_seeds) + '.']
    if len(named):
        lines += ['', 'Probability of improvement between named methods '
                  '(same intervals):', '']
        lines += [
            f'- P({titles.get(r["a"], r["a"])} > '
            f'{titles.get(r["b"], r["b"])}) = '
            f'{_interval(r["poi"], r["poi_low"], r["poi_high"], ".2f")} '
            f'({r["seeds_a"]} vs {r["seeds_b"]})'
            for _, r in named.iterrows()]
    lines += ['', BOOTSTRAP_COVERAGE_NOTE.format(
        coverage=100 * SIMULATED_COVERAGE)]
    return lines


def agreement_lines(agreement: pd.DataFrame, pairs: Sequence[Dict],
                    titles: Dict[str, str], metric: str) -> List[str]:
    """The rank-agreement section of the cross-task Markdown: Kendall's tau
    per pair of tasks, a sentence on whether the tasks order the methods
    alike, and the pairs of methods whose order holds on every task with
    their intervals.

    Args:
        agreement (pd.DataFrame): :func:`~.aggregate.rank_agreement`.
        pairs (list[dict]): :func:`~.aggregate.consistent_pairs`.
        titles (dict): Method key -> display name.
        metric (str): What the differences are in (e.g. ``'mIoU'``).

    Returns:
        list[str]: Lines (empty with fewer than two tasks).
    """
    if agreement.empty:
        return []
    lines = ['', 'Rank agreement between tasks: Kendall τ-b between two '
             'tasks\' orders of the adaptation methods by mean over seeds '
             '(1: the same order, 0: unrelated, −1: reversed); in brackets '
             'the 95 % percentile bootstrap interval (seeds resampled within '
             'each task).', '', '| Tasks | Methods | τ |', '|:---|---:|---:|']
    for _, r in agreement.iterrows():
        tau = _interval(r['tau'], r['tau_low'], r['tau_high'], '.2f')
        lines.append(f'| {r["task_a"]} vs {r["task_b"]} | '
                     f'{r["n_methods"]} | {tau} |')
    taus = agreement['tau'].dropna()
    if len(taus) and (taus == 1).all():
        lines += ['', 'The tasks order the methods identically (τ = 1 for '
                  'every pair of tasks).']
    elif len(taus):
        lines += ['', 'The tasks order the methods differently; no ranking '
                  'here holds across tasks.']
    if pairs:
        lines += ['', 'Pairs of methods in the same order on every task '
                  f'(difference of the means in {metric} on each task, 95 % '
                  'Welch t-interval; ✓: every interval excludes 0):', '']
        for p in pairs:
            cells = [f'{t} {w["diff"]:+.1f} '
                     + format_interval(w['ci_low'], w['ci_high'])
                     for t, w in p['per_task'].items()]
            resolved = all(w['ci_low'] > 0 for w in p['per_task'].values())
            lines.append(f'- {titles.get(p["better"], p["better"])} > '
                         f'{titles.get(p["worse"], p["worse"])}: '
                         + ', '.join(cells) + (' ✓' if resolved else ''))
    elif len(taus):
        lines += ['', 'No pair of methods keeps its order on every task.']
    return lines
