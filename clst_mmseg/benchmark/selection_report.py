"""The protocol-sensitivity report of a suite's task: what each method
scores under each checkpoint-selection protocol (last iterate, oracle
selection on target val, each label-free criterion), the regret of each,
whether the ranking of methods changes, and how many seeds the observed
differences would need. Written beside the leaderboard as
``<report_name>_selection.{md,tex,csv,html}`` with its figures.

Built only from run records (their ``trajectory``), like the leaderboard.
"""
import html as _html
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .selection import (LAST, ORACLE, criteria_of, protocol_ranks,
                        protocol_table, selections, seeds_needed,
                        trajectory_frame)
from .significance import format_ci, format_p, holm, welch

#: display names of the protocols (criteria not listed keep their key)
PROTOCOL_TITLES = {
    LAST: 'Last iterate',
    ORACLE: 'Oracle (target val) †',
    'entropy': 'Min. entropy',
    'im': 'Info. max.',
    'snd': 'SND',
    'source_mIoU': 'Source val',
    'agreement': 'Teacher agreement',
}


def _title(protocol: str) -> str:
    return PROTOCOL_TITLES.get(protocol, protocol)


def _cell(mean: float, regret: float, protocol: str) -> str:
    """``'44.5 (2.5)'``: the mean selected score and the mean regret (the
    oracle's own regret is 0 by definition and left out)."""
    if pd.isna(mean):
        return '–'
    if protocol == ORACLE:
        return f'{mean:.1f}'
    return f'{mean:.1f} ({regret:.1f})'


def selection_tables(records: Sequence[Dict], task: str, metric: str,
                     methods: Sequence[Dict]) -> Optional[Dict]:
    """The numbers of one task's report.

    Args:
        records (list[dict]): The suite's records (any status).
        task (str): Task key.
        metric (str): Target metric, e.g. ``'mIoU'``.
        methods (list[dict]): Leaderboard rows (``name``, ``title``), in
            display order.

    Returns:
        dict | None: ``frame`` (trajectory rows), ``picks`` (one row per run
        and protocol), ``table`` (mean/std/regret per method and protocol),
        ``ranks``, ``protocols`` (in display order), ``wide`` (the
        text table: one row per method, one column per protocol), ``means``
        (the same shape: the mean selected score) and ``roles`` (each
        row's role); None when no record of the task has a trajectory.
    """
    recs = [r for r in records if r.get('task') == task]
    frame = trajectory_frame(recs, metric)
    if frame.empty:
        return None
    protocols = [LAST, ORACLE] + [c for c in criteria_of(frame)
                                  if frame[c].notna().any()]
    picks = selections(frame, protocols)
    table = protocol_table(picks)
    ranks = protocol_ranks(table)
    rows, means, roles = [], [], []
    for m in methods:
        sub = table[table['method'] == m['name']].set_index('protocol')
        if sub.empty:
            continue
        row = {'Method': m.get('title', m['name']),
               'Seeds': int(sub['n'].max())}
        mean = {}
        for p in protocols:
            row[_title(p)] = (_cell(sub.loc[p, 'mean'], sub.loc[p, 'regret'],
                                    p) if p in sub.index else '–')
            mean[_title(p)] = sub.loc[p, 'mean'] if p in sub.index else \
                np.nan
        rows.append(row)
        means.append(mean)
        roles.append(m.get('role', 'method'))
    return dict(frame=frame, picks=picks, table=table, ranks=ranks,
                protocols=protocols, wide=pd.DataFrame(rows),
                means=pd.DataFrame(means), roles=roles)


def ranking_lines(ranks: pd.DataFrame, titles: Dict[str, str],
                  methods_only: Sequence[str]) -> List[str]:
    """One line per protocol: the methods best to worst, and whether the
    ranking of the adaptation methods differs from the last iterate's (on
    the methods the protocol can rank)."""
    out = []
    sub = ranks[ranks['method'].isin(methods_only)]
    base = None
    for protocol, part in sub.groupby('protocol', sort=False):
        order = part.sort_values(['rank', 'method'])['method'].tolist()
        if protocol == LAST:
            base = order
        # A criterion only some methods have (teacher agreement) is compared
        # on those methods: the last iterate's order restricted to them.
        changed = (base is not None and protocol != LAST
                   and order != [m for m in base if m in order])
        out.append(f'{_title(protocol)}: ' + ' > '.join(
            titles.get(m, m) for m in order) +
            (' (ranking differs from the last iterate)' if changed else ''))
    return out


def pair_tests(picks: pd.DataFrame,
               pairs: Sequence[Tuple[str, str]]) -> List[Tuple]:
    """``(a, b, seeds of a, seeds of b, welch(a, b))`` of the last iterate,
    per compared pair with runs on both sides."""
    last = picks[picks['protocol'] == LAST]
    found = []
    for a, b in pairs:
        xa = last.loc[last['method'] == a, 'selected'].tolist()
        xb = last.loc[last['method'] == b, 'selected'].tolist()
        if xa and xb:
            found.append((a, b, xa, xb, welch(xa, xb)))
    return found


def seed_lines(picks: pd.DataFrame, pairs: Sequence[Tuple[str, str]],
               titles: Dict[str, str], metric: str) -> List[str]:
    """Per compared pair (last iterate): the difference with its 95 % Welch
    t-interval, Welch's p and Holm's p over the pairs listed, and the seeds
    per method that a difference of that size would need to reach p < 0.05
    with 80 % power (``n/a`` with a single seed on a side)."""
    found = pair_tests(picks, pairs)
    adjusted = holm([w['p'] for *_, w in found])
    several = sum(not np.isnan(w['p']) for *_, w in found) > 1
    out = []
    for (a, b, xa, xb, w), p_holm in zip(found, adjusted):
        out.append(
            f'{titles.get(a, a)} vs {titles.get(b, b)}: '
            f'{w["diff"]:+.1f} {metric}, '
            f'{format_ci(w["ci_low"], w["ci_high"])} ({format_p(w["p"])}'
            + (f', Holm {format_p(p_holm)}' if several else '')
            + f", Welch's t-test, {len(xa)} vs {len(xb)} seeds); "
            + _seeds_needed_text(xa, xb, w['diff']))
    return out


def _seeds_needed_text(xa: Sequence[float], xb: Sequence[float],
                       diff: float) -> str:
    """How many seeds per method a difference of this size needs."""
    if min(len(xa), len(xb)) < 2:
        return 'seeds needed for p < 0.05 at 80 % power: n/a (one seed)'
    if diff == 0:
        return 'no difference to detect'
    need = seeds_needed(xa, xb)
    if need is None:
        return ('a difference this size needs over 1000 seeds per method '
                'for p < 0.05 at 80 % power')
    return (f'a difference this size needs {need} seeds per method for '
            'p < 0.05 at 80 % power')


def _md_table(frame: pd.DataFrame) -> List[str]:
    cols = list(frame.columns)
    lines = ['| ' + ' | '.join(cols) + ' |',
             '|' + '|'.join([':---'] + ['---:'] * (len(cols) - 1)) + '|']
    for _, r in frame.iterrows():
        lines.append('| ' + ' | '.join(str(r[c]) for c in cols) + ' |')
    return lines


EXPLANATION = (
    'Target-val {metric} (%) of the checkpoint each protocol selects, mean '
    'over seeds; in brackets the mean regret (oracle − selected). Each run '
    'is evaluated at {k} evenly spaced checkpoints. "Last iterate" is the '
    'leaderboard headline; † the oracle picks the checkpoint with the best '
    'target-val score (it uses target labels: an upper bound of what '
    'selection can add, not a protocol a method may use).')
#: What each label-free criterion is (the explanation names only the
#: criteria the table has).
CRITERIA_TEXT = {
    'entropy': 'mean prediction entropy on target train (lowest)',
    'im': 'information maximisation (highest)',
    'snd': 'soft neighbourhood density (SND, Saito et al. 2021; highest)',
    'source_mIoU': 'mIoU on a held-out slice of the source (highest)',
    'agreement': 'agreement with the method\'s own teacher or temporal '
    'ensemble (highest; only methods that have one)',
}


def explanation(tables: Dict, metric: str) -> str:
    """The paragraph above the table, naming only its criteria."""
    k = int(tables['frame'].groupby('run_id')['step'].count().median())
    text = EXPLANATION.format(metric=metric, k=k)
    crits = [CRITERIA_TEXT.get(c, c) for c in tables['protocols']
             if c not in (LAST, ORACLE)]
    if crits:
        text += (' The label-free criteria use no target label: ' +
                 (', '.join(crits[:-1]) + ' and ' if len(crits) > 1 else '')
                 + crits[-1] + '.')
    return text


def markdown(title: str, tables: Dict, metric: str, ranking: List[str],
             seeds: List[str], images: Sequence[str],
             seeds_heading: str = 'Seeds (last iterate):') -> str:
    lines = [f'### {title}: checkpoint selection', '',
             explanation(tables, metric), '']
    lines += _md_table(tables['wide'])
    lines += ['', 'Ranking of the adaptation methods under each protocol:',
              '']
    lines += [f'- {x}' for x in ranking]
    if seeds:
        lines += ['', seeds_heading, '']
        lines += [f'- {x}' for x in seeds]
    lines += [''] + [f'![{osp.basename(p)}]({osp.basename(p)})'
                     for p in images if p.endswith('.png')]
    return '\n'.join(lines) + '\n'


def latex(title: str, task: str, tables: Dict, metric: str) -> str:
    """The table as LaTeX (booktabs): per protocol, the best adaptation
    method in bold and the second best underlined."""
    from .tables import (TEX_MARKS_NOTE, _tex_table, ranked_marks,
                         tex_escape)
    wide, means, roles = tables['wide'], tables['means'], tables['roles']
    cols = list(wide.columns)
    marks = {}
    for j, col in enumerate(cols):
        if col in means:
            for i, mark in enumerate(ranked_marks(list(means[col]), roles)):
                if mark:
                    marks[(i, j)] = mark
    caption = tex_escape(f'{title}: checkpoint selection. ' +
                         explanation(tables, metric) + ' ' + TEX_MARKS_NOTE)
    lines = ['% generated by tools/benchmark.py from the result records',
             '% \\usepackage{booktabs}']
    lines += _tex_table(cols, [[str(r[c]) for c in cols]
                               for _, r in wide.iterrows()], roles, caption,
                        f'tab:{task}-selection',
                        'l' + 'r' * (len(cols) - 1), marks)
    return '\n'.join(lines) + '\n'


def html_page(title: str, markdown_text: str, tables: Dict,
              images: Sequence[str]) -> str:
    """A self-contained page: the table and the figures (inlined)."""
    import base64
    parts = [f'<h2>{_html.escape(title)}: checkpoint selection</h2>',
             tables['wide'].to_html(index=False, escape=True)]
    for line in markdown_text.splitlines():
        if line.startswith('- '):
            parts.append(f'<p>{_html.escape(line[2:])}</p>')
    for path in images:
        if path.endswith('.png') and osp.isfile(path):
            with open(path, 'rb') as f:
                data = base64.b64encode(f.read()).decode()
            parts.append(f'<img alt="{_html.escape(osp.basename(path))}" '
                         f'src="data:image/png;base64,{data}">')
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
            f'{_html.escape(title)}</title></head><body>' + '\n'.join(parts)
            + '</body></html>\n')


def _hue(palette: Dict[str, str], shown) -> Dict:
    """seaborn hue arguments: the report's colours, in its row order."""
    shown = set(shown)
    return dict(palette=palette,
                hue_order=[t for t in palette if t in shown])


def plot_criteria(frame: pd.DataFrame, titles: Dict[str, str], metric: str,
                  stem: str,
                  palette: Optional[Dict[str, str]] = None) -> List[str]:
    """Target-val score against each criterion over every evaluated
    checkpoint of every run (one panel per criterion, one colour per
    method: ``palette``, title -> colour, default
    :func:`~.plots.method_palette` of ``titles``): a criterion is useful
    for selection where higher values go with higher scores within a run.
    Writes ``<stem>.png`` (with SVG and PDF beside it, as every leaderboard
    plot)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .plots import _save, method_palette
    palette = palette or method_palette(
        [dict(name=n, title=t) for n, t in titles.items()])
    crits = [c for c in criteria_of(frame) if frame[c].notna().any()]
    if not crits:
        return []
    data = frame.assign(Method=frame['method'].map(
        lambda m: titles.get(m, m)))
    fig, axes = plt.subplots(1, len(crits), figsize=(3.0 * len(crits), 3.2),
                             sharey=True, squeeze=False)
    for ax, c in zip(axes[0], crits):
        sns.scatterplot(data=data, x=c, y='target', hue='Method', ax=ax,
                        s=14, linewidth=0, legend=ax is axes[0][-1],
                        **_hue(palette, data['Method']))
        ax.set_xlabel(f'{_title(c)} (higher is picked)')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f'target-val {metric} (%)')
    axes[0][-1].legend(loc='upper left', bbox_to_anchor=(1.02, 1.0),
                       frameon=False, fontsize='small')
    fig.suptitle('Every evaluated checkpoint: target score vs label-free '
                 'criterion', fontsize='medium')
    fig.tight_layout()
    return [_save(fig, f'{stem}.png', caption=(
        'One dot per evaluated checkpoint of every run; a criterion picks '
        'the checkpoint of a run where it is highest.'))]


def pseudo_label_frame(records: Sequence[Dict],
                       titles: Dict[str, str]) -> pd.DataFrame:
    """Long table of the pseudo-label diagnostics of finished runs:
    ``Method, seed, iter, coverage, precision, recall``."""
    rows = []
    for rec in records:
        if rec.get('status') != 'finished':
            continue
        for point in rec.get('train_curve') or []:
            if 'pl_diag.coverage' not in point:
                continue
            rows.append(dict(
                Method=titles.get(rec['method'], rec['method']),
                seed=rec['seed'], iter=point['iter'],
                coverage=point.get('pl_diag.coverage'),
                precision=point.get('pl_diag.precision'),
                recall=point.get('pl_diag.recall')))
    return pd.DataFrame(rows)


def plot_pseudo_labels(records: Sequence[Dict], titles: Dict[str, str],
                       stem: str,
                       palette: Optional[Dict[str, str]] = None
                       ) -> List[str]:
    """Coverage and precision of each self-training-family method's
    pseudo-labels over training (mean over seeds, band: as in every figure,
    :data:`~.plots.BAND`), measured against the target-train labels by
    ``PseudoLabelDiagnosticsHook`` (a diagnostic no method reads), coloured
    as in every figure of the report (``palette``, as for
    :func:`plot_criteria`). Writes ``<stem>.png`` (+ SVG, PDF); nothing
    when no run logged it."""
    frame = pseudo_label_frame(records, titles)
    if frame.empty:
        return []
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .plots import BAND, BAND_CAPTION, _save, method_palette
    palette = palette or method_palette(
        [dict(name=n, title=t) for n, t in titles.items()])
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4), sharex=True)
    for ax, key in zip(axes, ('coverage', 'precision')):
        sns.lineplot(data=frame, x='iter', y=key, hue='Method', ax=ax,
                     errorbar=BAND, legend=ax is axes[-1],
                     **_hue(palette, frame['Method']))
        ax.set_ylim(0, 1)
        ax.set_xlabel('iteration')
        ax.set_ylabel(f'pseudo-label {key}')
        ax.grid(alpha=0.3)
    axes[-1].legend(loc='upper left', bbox_to_anchor=(1.02, 1.0),
                    frameon=False, fontsize='small')
    fig.suptitle('Pseudo-labels against target-train labels (a diagnostic '
                 'no method reads)', fontsize='medium')
    fig.tight_layout()
    return [_save(fig, f'{stem}.png', caption=(
        f'Line: mean over seeds; band: {BAND_CAPTION}. Coverage: share '
        'of target pixels with a pseudo-label; precision: share of those '
        'that are correct.'))]


def publish_selection(task: str, title: str, records: Sequence[Dict],
                      rows: Sequence[Dict], metric: str, stem: str,
                      pairs: Sequence[Tuple[str, str]],
                      echo=print,
                      palette: Optional[Dict[str, str]] = None
                      ) -> List[str]:
    """Write one task's selection report beside its leaderboard:
    ``<stem>_selection.{md,tex,html,csv}`` (the last: one row per method and
    protocol), ``<stem>_selection_picks.csv`` (one row per run and protocol)
    and the figures ``<stem>_selection_criteria.*`` and
    ``<stem>_pseudo_labels.*``.

    Args:
        task (str): Task key.
        title (str): Task title.
        records (list[dict]): The suite's records.
        rows (list[dict]): Leaderboard rows (``name``, ``title``,
            ``role``), in display order.
        metric (str): The task's headline metric.
        stem (str): Path prefix of the leaderboard files.
        pairs (list[tuple]): The suite's comparisons.
        echo (callable): Prints the Markdown.
        palette (dict, optional): Title -> colour of the whole report
            (:func:`~.plots.method_palette` of ``rows`` by default).

    Returns:
        list[str]: Written paths (empty when no run has a trajectory).
    """
    from .plots import method_palette, vector_copies
    from .tables import comparison_note
    titles = {r['name']: r['title'] for r in rows}
    palette = palette or method_palette(rows)
    task_records = [r for r in records if r.get('task') == task]
    tables = selection_tables(task_records, task, metric, rows)
    if tables is None:
        return []
    methods = [r['name'] for r in rows if r.get('role') == 'method']
    ranking = ranking_lines(tables['ranks'], titles, methods)
    seeds = seed_lines(tables['picks'], pairs, titles, metric)
    images = plot_criteria(tables['frame'], titles, metric,
                           f'{stem}_selection_criteria', palette)
    images += plot_pseudo_labels(task_records, titles,
                                 f'{stem}_pseudo_labels', palette)
    md = markdown(title, tables, metric, ranking, seeds, images,
                  comparison_note(
                      sum(not np.isnan(t[-1]['p'])
                          for t in pair_tests(tables['picks'], pairs)),
                      'Seeds (last iterate)'))
    paths = {f'{stem}_selection.md': md,
             f'{stem}_selection.tex': latex(title, task, tables, metric),
             f'{stem}_selection.html': html_page(title, md, tables, images)}
    for path, text in paths.items():
        with open(path, 'w') as f:
            f.write(text)
    tables['table'].to_csv(f'{stem}_selection.csv', index=False,
                           float_format='%.4f')
    tables['picks'].to_csv(f'{stem}_selection_picks.csv', index=False,
                           float_format='%.4f')
    echo(md)
    return list(paths) + [f'{stem}_selection.csv',
                          f'{stem}_selection_picks.csv'] + images + [
                              v for p in images for v in vector_copies(p)]
