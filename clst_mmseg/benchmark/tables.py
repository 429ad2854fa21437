"""Leaderboard rendering: Markdown (README-ready), LaTeX (booktabs), CSV
and a self-contained HTML page. Formatting only; the numbers come from
:func:`~.report.leaderboard`."""
import base64
import html as _html
import math
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple

import pandas as pd

from ..synthia_scoring import SYNTHIA_SCORING
from .identity import CODE_MARK
from .significance import format_ci, format_p

DASH = '–'


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_score(mean: float, std: float, digits: int = 1) -> str:
    """``'52.0 ± 2.0'``; just the mean for a single seed."""
    if _nan(mean):
        return DASH
    if _nan(std):
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def fmt_num(x: float, fmt: str = '.1f', sign: bool = False) -> str:
    if _nan(x):
        return ''
    return format(x, ('+' if sign else '') + fmt)


def _hours(x: float) -> str:
    if _nan(x):
        return DASH
    return f'{x:.3f}' if x < 1 else f'{x:.1f}'


#: How each kind of peak memory is labelled in the tables.
MEMORY_LABELS = {'gpu_allocated': 'GPU', 'host_rss_growth': 'RSS growth',
                 'host_rss': 'RSS'}


def _memory(mb: float, kind: str) -> str:
    if _nan(mb):
        return DASH
    label = MEMORY_LABELS.get(kind, kind)
    size = f'{mb:.0f} MB' if mb < 1000 else f'{mb / 1024:.2f} GB'
    return f'{size} {label}'.strip()


#: Marks the protocol-matched (paper's protocol) figure.
MATCHED = '‡'
NO_REFERENCE = 'no comparable reference'


def has_paper(board: pd.DataFrame, metric: str) -> bool:
    col = f'{metric}_paper'
    return col in board and board[col].notna().any()


def has_matched(board: pd.DataFrame, metric: str) -> bool:
    col = f'{metric}_matched_mean'
    return col in board and board[col].notna().any()


def _no_reference(r, metric: str) -> bool:
    return bool(r.get(f'{metric}_no_reference', False))


def _inits(board: pd.DataFrame) -> List[str]:
    if 'init' not in board:
        return []
    return sorted({i for i in board['init'] if isinstance(i, str) and i})


def _scorings(board: pd.DataFrame) -> List[str]:
    """The SYNTHIA scoring conventions of a board's rows
    (:mod:`clst_mmseg.synthia_scoring`)."""
    if 'synthia_scoring' not in board:
        return []
    return sorted({s for s in board['synthia_scoring']
                   if isinstance(s, str) and s})


def main_table(board: pd.DataFrame,
               metrics: Sequence[str]) -> Tuple[List[str], List[List[str]]]:
    """Header and text cells of the main leaderboard table.

    Returns:
        tuple: ``(header, rows)``; row cells are plain text.
    """
    devices = set(board['device'])
    unit = {'cuda': 'GPU', 'cpu': 'CPU'}.get(
        devices.pop() if len(devices) == 1 else None, 'device')
    header = ['Method', 'Seeds']
    for m in metrics:
        header.append(m)
        if has_matched(board, m):
            header.append(f'{m} paper protocol')
        if has_paper(board, m):
            header += ['Paper', 'Δ']
    with_init = len(_inits(board)) > 1
    if with_init:
        header.append('Init')
    with_scoring = len(_scorings(board)) > 1
    if with_scoring:
        header.append('Scoring')
    header += ['Iterations', f'{unit}-h/run', 'Peak memory']
    rows = []
    for _, r in board.iterrows():
        title = r['title'] + (' †' if r['oracle_selection'] else '') + (
            f' {CODE_MARK}' if r.get('code_mark') is True else '')
        cells = [title, str(r['n_seeds'])]
        for m in metrics:
            cells.append(fmt_score(r[f'{m}_mean'], r[f'{m}_std']))
            if has_matched(board, m):
                matched = fmt_score(r[f'{m}_matched_mean'],
                                    r[f'{m}_matched_std'])
                cells.append(matched if matched == DASH else
                             f'{matched} {MATCHED}')
            if has_paper(board, m):
                paper = (NO_REFERENCE if _no_reference(r, m) else
                         fmt_num(r[f'{m}_paper'], 'g'))
                cells += [paper, fmt_num(r[f'{m}_delta'], sign=True)]
        if with_init:
            cells.append(r['init'] or DASH)
        if with_scoring:
            cells.append(r['synthia_scoring'] or DASH)
        cells += [
            DASH if _nan(r['iterations']) else str(int(r['iterations'])),
            _hours(r['device_hours']),
            _memory(r['peak_memory_mb'], r['peak_memory_kind'])
        ]
        rows.append(cells)
    return header, rows


def class_table(board: pd.DataFrame,
                classes: Sequence[str]) -> Tuple[List[str], List[List[str]]]:
    """Header and cells of the per-class IoU table (mean over seeds)."""
    header = ['Method'] + list(classes)
    rows = [[r['title']] + [fmt_num(r[f'IoU.{c}']) or DASH for c in classes]
            for _, r in board.iterrows()]
    return header, rows


def comparison_lines(comps: pd.DataFrame, titles: Dict[str, str]) -> List[str]:
    """``'CLST vs Self-training: +2.1 mIoU19 (95 % CI [-0.9, +5.1], p =
    0.012, Holm p = 0.036, Welch's t-test, 3 vs 3 seeds)'`` per compared
    pair (:func:`~.report.comparisons`): the Welch t-interval beside
    Welch's p; Holm's p only where the table compares more than one pair;
    ``n/a`` below 2 seeds a side."""
    several = 'p_holm' in comps and comps['p'].notna().sum() > 1
    out = []
    for _, c in comps.iterrows():
        diff = DASH if _nan(c['diff']) else f'{c["diff"]:+.1f}'
        holm_p = (', Holm ' + format_p(c['p_holm'])) if several else ''
        out.append(f'{titles.get(c["a"], c["a"])} vs '
                   f'{titles.get(c["b"], c["b"])}: {diff} {c["metric"]} '
                   f'({format_ci(c["ci_low"], c["ci_high"])}, '
                   f"{format_p(c['p'])}{holm_p}, Welch's t-test, {c['n_a']} "
                   f'vs {c["n_b"]} seeds)')
    return out


def comparison_note(n: int,
                    lead: str = 'Differences between methods over seeds'
                    ) -> str:
    """What the comparison lines' numbers are (the heading of a list of
    ``n`` comparisons with a p-value)."""
    text = (f"{lead} (Welch's t-test; the 95 % CI is the Welch t-interval "
            'of the difference, for that comparison alone')
    if n > 1:
        text += (f'; Holm p corrects the p-values for the {n} comparisons '
                 'of this list, the intervals are not corrected')
    return text + '):'


def sources(board: pd.DataFrame, metrics: Sequence[str]) -> List[str]:
    """``'CLST, mIoU19: 51.6 (Marsden et al. ...; CLST, DeepLabV2 ...)'``."""
    out = []
    for _, r in board.iterrows():
        for m in metrics:
            if f'{m}_source' in r and r[f'{m}_source']:
                out.append(f'{r["title"]}, {m}: {r[f"{m}_paper"]:g} '
                           f'({r[f"{m}_source"]})')
            elif _no_reference(r, m):
                out.append(f'{r["title"]}, {m}: {NO_REFERENCE} (no '
                           'published number for the variant its config '
                           'runs)')
    return out


#: How a context row is named in the notes, by role.
CONTEXT_ROLES = {'baseline': 'the baseline', 'upper_bound': 'the upper bound'}

#: What a leaderboard of small CPU tasks can and cannot support (printed
#: beside the tables of a suite with ``cpu_tasks = True``).
CPU_SCOPE = ('Scope: these are small CPU tasks. Their leaderboards check '
             'that the pipeline and each method work (sanity) and support '
             'methodology studies (seed spread, checkpoint selection, '
             'ablations); they are not a ranking of the methods for real '
             'data (GTA5/SYNTHIA → Cityscapes), where the order may differ.')


def context_note(board: pd.DataFrame) -> str:
    """``'Rows in italics are context ...: the baseline Source only and
    the upper bound Oracle.'``, naming only the context rows the table has
    ('' without any)."""
    named = [f'{CONTEXT_ROLES[r]} {t}'
             for t, r in zip(board['title'], board['role'])
             if r in CONTEXT_ROLES]
    if not named:
        return ''
    return ('Rows in italics are context, not ranked with the adaptation '
            'methods: ' + ' and '.join(named) + '.')


def notes(board: pd.DataFrame) -> List[str]:
    out = []
    context = context_note(board)
    if context:
        out.append(context)
    kinds = set(','.join(board['peak_memory_kind'].dropna()).split(','))
    if kinds & {'gpu_allocated', 'host_rss_growth'}:
        out.append('Peak memory is what training adds: CUDA memory '
                   'allocated on GPUs, growth of the process\'s resident '
                   'set from the start of training on the CPU (not the '
                   'process total that every method shares).')
    if board['oracle_selection'].any():
        out.append('† evaluated at the best checkpoint on target val '
                   '(oracle selection, uses target labels).')
    else:
        out.append('Every run is evaluated at its last iterate.')
    if 'code_mark' in board and board['code_mark'].any():
        out.append(f'{CODE_MARK} not every run of the row was trained by '
                   'the code as it is now, or its seeds ran different code '
                   '(the notes below name the runs and files).')
    if any(c.endswith('_matched_mean') and board[c].notna().any()
           for c in board.columns):
        out.append(f'{MATCHED} the paper\'s protocol: the best validation '
                   'snapshot of each run (target labels choose the '
                   'checkpoint: oracle selection); Δ compares it with the '
                   'paper.')
    inits = _inits(board)
    if len(inits) == 1:
        out.append(f'Initialisation (every row): {inits[0]}.')
    scorings = _scorings(board)
    if scorings:
        where = ('every row' if len(scorings) == 1 else
                 'column Scoring, as each paper scored')
        out.append(f'SYNTHIA scoring ({where}): ' + '; '.join(
            f'{s}: {SYNTHIA_SCORING[s]["text"]}' if s in SYNTHIA_SCORING
            else s for s in scorings) + '.')
    return out


def _md_row(cells: Sequence[str]) -> str:
    return '| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |'


#: Heading of the comparison lines when the caller gives none.
COMPARISONS_HEADING = 'Differences between methods over seeds:'


def markdown(title: str, board: pd.DataFrame, metrics: Sequence[str],
             classes: Sequence[str], comps: List[str],
             footer: Sequence[str] = (),
             comps_heading: str = COMPARISONS_HEADING,
             scope: str = '') -> str:
    """The task's leaderboard as Markdown.

    Args:
        title (str): Task title.
        board (pd.DataFrame): :func:`~.report.leaderboard` output.
        metrics (list[str]): Metric columns.
        classes (list[str]): Per-class IoU columns.
        comps (list[str]): :func:`comparison_lines`.
        footer (list[str]): Lines after the notes (provenance).
        comps_heading (str): What the comparison lines are
            (:func:`comparison_note`).
        scope (str): What the table can support (e.g. :data:`CPU_SCOPE`),
            printed under its heading; nothing if empty.
    """
    header, rows = main_table(board, metrics)
    lines = [f'### {title}', '']
    if scope:
        lines += [scope, '']
    lines += [f'Target-domain {", ".join(metrics)} (%), mean ± std over '
              'seeds.', '', _md_row(header),
             '|' + '|'.join([':---'] + ['---:'] * (len(header) - 1)) + '|']
    for (_, r), cells in zip(board.iterrows(), rows):
        if r['role'] != 'method':
            cells = [f'*{cells[0]}*'] + cells[1:]
        lines.append(_md_row(cells))
    if classes:
        ch, crows = class_table(board, classes)
        lines += ['', 'Per-class IoU (%), mean over seeds:', '', _md_row(ch),
                  '|' + '|'.join([':---'] + ['---:'] * len(classes)) + '|']
        lines += [_md_row(c) for c in crows]
    if comps:
        lines += ['', comps_heading, '']
        lines += [f'- {c}' for c in comps]
    src = sources(board, metrics)
    if src:
        lines += ['', 'Paper numbers:', ''] + [f'- {s}' for s in src]
    lines += [''] + [f'{n}' for n in notes(board)]
    if footer:
        lines += [''] + list(footer)
    return '\n'.join(lines) + '\n'


_TEX = {'&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#', '_': r'\_',
        '{': r'\{', '}': r'\}', '~': r'\textasciitilde{}',
        '^': r'\textasciicircum{}', '\\': r'\textbackslash{}',
        '±': r'$\pm$', '→': r'$\rightarrow$', 'Δ': r'$\Delta$',
        '–': '--', '†': r'$^\dagger$', '‡': r'$^\ddagger$',
        '§': r'\S{}', 'τ': r'$\tau$', '×': r'$\times$', '−': r'$-$',
        '<': r'$<$', '>': r'$>$', '↓': r'$\downarrow$',
        '✓': r'\checkmark{}'}


def tex_escape(text: str) -> str:
    return ''.join(_TEX.get(ch, ch) for ch in str(text))


def ranked_marks(values: Sequence[float], roles: Sequence[str],
                 digits: int = 1) -> List[str]:
    """``'best'``, ``'second'`` or ``''`` per row: the highest and second
    highest value as printed (rounded to ``digits``; equal printed values
    share a mark) among the adaptation methods (role ``method``); context
    rows and NaN are never marked, nor is anything with fewer than two
    methods to compare."""
    shown = [round(float(v), digits) if r == 'method' and not _nan(v)
             else None for v, r in zip(values, roles)]
    ranked = sorted({v for v in shown if v is not None}, reverse=True)
    if sum(v is not None for v in shown) < 2:
        return [''] * len(shown)
    top = dict(zip(ranked[:2], ('best', 'second')))
    return [top.get(v, '') if v is not None else '' for v in shown]


#: How a ranked mark is typeset.
TEX_MARKS = {'best': r'\textbf{{{}}}', 'second': r'\underline{{{}}}'}
#: Caption sentence of a table with marks.
TEX_MARKS_NOTE = ('Best adaptation method in bold, second best underlined '
                  '(context rows are not ranked).')


def _tex_table(header, rows, roles, caption, label, align,
               marks=None) -> List[str]:
    """A booktabs table; ``marks`` maps (row, column) to ``best`` /
    ``second`` (:func:`ranked_marks`)."""
    marks = marks or {}
    lines = [r'\begin{table}[t]', r'\centering', r'\small',
             rf'\caption{{{caption}}}', rf'\label{{{label}}}',
             rf'\begin{{tabular}}{{{align}}}', r'\toprule',
             ' & '.join(tex_escape(h) for h in header) + r' \\',
             r'\midrule']
    previous = None
    for i, (role, cells) in enumerate(zip(roles, rows)):
        if previous is not None and role != previous:
            lines.append(r'\midrule')
        previous = role
        cells = [TEX_MARKS[marks[(i, j)]].format(tex_escape(c))
                 if marks.get((i, j)) else tex_escape(c)
                 for j, c in enumerate(cells)]
        if role != 'method':
            cells[0] = rf'\textit{{{cells[0]}}}'
        lines.append(' & '.join(cells) + r' \\')
    lines += [r'\bottomrule', r'\end{tabular}', r'\end{table}']
    return lines


def _column_marks(board: pd.DataFrame, columns: Dict[int, str]) -> Dict:
    """Marks of the given table columns (index -> board column)."""
    roles = list(board['role'])
    out = {}
    for j, key in columns.items():
        for i, mark in enumerate(ranked_marks(list(board[key]), roles)):
            if mark:
                out[(i, j)] = mark
    return out


def latex(title: str, task: str, board: pd.DataFrame,
          metrics: Sequence[str], classes: Sequence[str],
          comps: List[str], comps_heading: str = COMPARISONS_HEADING,
          scope: str = '') -> str:
    """The task's leaderboard as LaTeX tables (needs ``booktabs``): the
    best adaptation method of every score column in bold, the second best
    underlined; the comparisons and ``scope`` as comments."""
    roles = list(board['role'])
    header, rows = main_table(board, metrics)
    caption = (f'{tex_escape(title)}: target-domain '
               f'{tex_escape(", ".join(metrics))} (\\%), mean $\\pm$ std '
               'over seeds. ' + tex_escape(' '.join(
                   notes(board) + [TEX_MARKS_NOTE])))
    lines = ['% generated by tools/benchmark.py from the result records',
             '% \\usepackage{booktabs}']
    if scope:
        lines.append(f'% {scope}')
    lines += _tex_table(header, rows, roles, caption, f'tab:{task}',
                        'l' + 'r' * (len(header) - 1),
                        _column_marks(board, {header.index(m): f'{m}_mean'
                                              for m in metrics}))
    if classes:
        ch, crows = class_table(board, classes)
        lines += ['']
        lines += _tex_table(ch, crows, roles,
                            f'{tex_escape(title)}: per-class IoU (\\%), '
                            'mean over seeds. ' + TEX_MARKS_NOTE,
                            f'tab:{task}-classes', 'l' + 'r' * len(classes),
                            _column_marks(board, {
                                j + 1: f'IoU.{c}'
                                for j, c in enumerate(classes)}))
    if comps:
        lines += ['', f'% {comps_heading}', '% ' + '\n% '.join(comps)]
    return '\n'.join(lines) + '\n'


def _md_links(text: str) -> str:
    """Markdown links ``[text](url)`` of an escaped line as HTML anchors."""
    return re.sub(r'\[([^\]]+)\]\(([^)\s]+)\)', r'<a href="\2">\1</a>', text)


def _html_table(header, rows, roles) -> str:
    out = ['<table>', '<thead><tr>' + ''.join(
        f'<th>{_html.escape(h)}</th>' for h in header) + '</tr></thead>',
        '<tbody>']
    for role, cells in zip(roles, rows):
        cls = '' if role == 'method' else ' class="context"'
        out.append(f'<tr{cls}>' + ''.join(
            f'<td>{_html.escape(c)}</td>' for c in cells) + '</tr>')
    out.append('</tbody></table>')
    return '\n'.join(out)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin:1em 0}
th,td{padding:.25em .6em;text-align:right;border-bottom:1px solid #ddd}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #333}
tr.context td{font-style:italic;color:#555}
img{max-width:100%;margin:1em 0}
.note{color:#555;font-size:.9em}"""


def html_page(title: str, board: pd.DataFrame, metrics: Sequence[str],
              classes: Sequence[str], comps: List[str],
              images: Sequence[str] = (), footer: Sequence[str] = (),
              comps_heading: str = COMPARISONS_HEADING,
              scope: str = '') -> str:
    """A self-contained HTML page (inline CSS, PNGs as data URIs); the
    arguments as for :func:`markdown`."""
    roles = list(board['role'])
    header, rows = main_table(board, metrics)
    parts = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8">',
             f'<title>{_html.escape(title)}</title>',
             f'<style>{_CSS}</style></head><body>',
             f'<h1>{_html.escape(title)}</h1>']
    if scope:
        parts.append(f'<p class="note">{_html.escape(scope)}</p>')
    parts += [f'<p>Target-domain {_html.escape(", ".join(metrics))} (%), '
              'mean ± std over seeds.</p>', _html_table(header, rows, roles)]
    if classes:
        ch, crows = class_table(board, classes)
        parts += ['<h2>Per-class IoU (%)</h2>',
                  _html_table(ch, crows, roles)]
    if comps:
        parts += ['<h2>Differences between methods</h2>',
                  f'<p class="note">{_html.escape(comps_heading)}</p>',
                  '<ul>'] + [
            f'<li>{_html.escape(c)}</li>' for c in comps] + ['</ul>']
    for path in images:
        if path and osp.isfile(path):
            with open(path, 'rb') as f:
                data = base64.b64encode(f.read()).decode()
            parts.append(f'<img alt="{_html.escape(osp.basename(path))}" '
                         f'src="data:image/png;base64,{data}">')
    src = sources(board, metrics)
    if src:
        parts += ['<h2>Paper numbers</h2>', '<ul>'] + [
            f'<li>{_html.escape(s)}</li>' for s in src] + ['</ul>']
    parts += [f'<p class="note">{_md_links(_html.escape(n))}</p>'
              for n in list(notes(board)) + list(footer)]
    parts.append('</body></html>')
    return '\n'.join(parts) + '\n'
