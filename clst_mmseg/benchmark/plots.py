"""Leaderboard plots (seaborn): scores with their seed spread, a per-class
IoU heatmap, and target-val mIoU against the iteration; and what every
figure of every report shares: one colour per method
(:func:`method_palette`) and one meaning of a shaded band
(:data:`BAND`)."""
import os
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

DPI = 110
#: Vector copies written beside every PNG (papers: PDF; web: SVG).
VECTOR_FORMATS = ('svg', 'pdf')
# fixed element ids, so SVGs rebuilt from the same records are identical
matplotlib.rcParams['svg.hashsalt'] = 'clst_mmseg'
_NO_DATE = dict(svg={'Date': None}, pdf={'CreationDate': None})

#: The colour of each shipped method, the same in every figure of every
#: report (matplotlib's tab10 / tab20 colours).
METHOD_COLOURS = {
    'source_only': '#7f7f7f',
    'oracle': '#17becf',
    'adaptsegnet': '#ff7f0e',
    'advent': '#2ca02c',
    'advent_adv': '#98df8a',
    'minent': '#006d2c',
    'self_training': '#1f77b4',
    'self_training_global': '#aec7e8',
    'self_training_cb': '#9467bd',
    'self_training_cb_online': '#c5b0d5',
    'cbst': '#5e3c99',
    'dacs': '#8c564b',
    'clst': '#d62728',
    'daformer': '#bcbd22',
    'mic': '#e377c2',
}
#: Colours of the other methods of a suite (ablations, sensitivity cells, a
#: user's own method), given in the order of the suite's rows.
EXTRA_COLOURS = ('#ff9896', '#ffbb78', '#f7b6d2', '#dbdb8d', '#9edae5',
                 '#c49c94', '#393b79', '#637939', '#8c6d31', '#843c39',
                 '#7b4173', '#3182bd', '#e6550d', '#31a354', '#756bb1',
                 '#636363')
#: What a shaded band (and a whisker) is in every figure: seaborn's
#: ``errorbar`` argument and the words for the caption.
BAND = 'sd'
BAND_CAPTION = '± sample standard deviation over seeds'


def method_colours(names: Sequence[str]) -> Dict[str, str]:
    """One colour per method key: a shipped method's own
    (:data:`METHOD_COLOURS`), the others from :data:`EXTRA_COLOURS` in the
    order given (then seaborn's husl colours), never a colour twice.

    Args:
        names (list[str]): Every method key of the report, in row order
            (all of them, so that a figure showing a few methods colours
            them as the figures showing all do).

    Returns:
        dict: Method key -> hex colour.
    """
    out = {n: METHOD_COLOURS[n] for n in names if n in METHOD_COLOURS}
    others = [n for n in dict.fromkeys(names) if n not in out]
    pool = [c for c in EXTRA_COLOURS if c not in out.values()]
    if len(others) > len(pool):
        pool += [matplotlib.colors.to_hex(c) for c in sns.husl_palette(
            len(others) - len(pool), l=0.45)]
    out.update(zip(others, pool))
    return out


def method_palette(rows: Sequence[Dict]) -> Dict[str, str]:
    """:func:`method_colours` keyed by display title (what the figures'
    legends show), from rows with ``name`` and ``title``."""
    colours = method_colours([r['name'] for r in rows])
    return {r.get('title', r['name']): colours[r['name']] for r in rows}


def _board_palette(board: pd.DataFrame) -> Dict[str, str]:
    return method_palette([dict(name=n, title=t) for n, t in
                           zip(board['method'], board['title'])])


def vector_copies(png: str) -> List[str]:
    """The SVG and PDF written beside a plot's PNG."""
    return [f'{os.path.splitext(png)[0]}.{ext}' for ext in VECTOR_FORMATS]


def _save(fig, path: str, caption: Optional[str] = None) -> str:
    """Write the figure as PNG (``path``) plus SVG and PDF beside it, with
    ``caption`` under the axes (what the marks mean)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if caption:
        fig.text(0.01, -0.01, caption, ha='left', va='top', fontsize=8,
                 color='0.3', wrap=True)
    fig.savefig(path, dpi=DPI, bbox_inches='tight')
    for copy, ext in zip(vector_copies(path), VECTOR_FORMATS):
        fig.savefig(copy, bbox_inches='tight', metadata=_NO_DATE[ext])
    plt.close(fig)
    return path


def plot_scores(frame: pd.DataFrame, board: pd.DataFrame,
                metrics: Sequence[str], title: str, path: str,
                palette: Optional[Dict[str, str]] = None) -> str:
    """Each method's score per seed (dots), mean ± std (bar), paper number
    (cross), one panel per metric.

    Args:
        frame (pd.DataFrame): The task's records (:func:`records_frame`).
        board (pd.DataFrame): The task's leaderboard (row order, titles).
        metrics (list[str]): Metrics to plot.
        title (str): Figure title.
        path (str): PNG to write.
        palette (dict, optional): Title -> colour (:func:`method_palette`
            of the whole report); default: the board's methods.

    Returns:
        str: ``path``.
    """
    titles = dict(zip(board['method'], board['title']))
    order = list(board['title'])
    palette = palette or _board_palette(board)
    data = frame[frame['method'].isin(titles)].assign(
        Method=lambda d: d['method'].map(titles))
    fig, axes = plt.subplots(1, len(metrics), squeeze=False,
                             figsize=(4.5 * len(metrics),
                                      0.45 * len(order) + 1.4))
    for ax, m in zip(axes[0], metrics):
        sns.pointplot(data=data, x=m, y='Method', order=order,
                      errorbar=BAND, linestyle='none', color='black',
                      markers='|', capsize=0.3, ax=ax)
        # seaborn draws the jitter from numpy's global RNG: a fixed seed
        # makes plots rebuilt from the same records byte-identical
        rng_state = np.random.get_state()
        np.random.seed(0)
        try:
            sns.stripplot(data=data, x=m, y='Method', order=order,
                          hue='Method', hue_order=order, palette=palette,
                          legend=False,
                          size=6, alpha=0.8, jitter=0.15, ax=ax)
        finally:
            np.random.set_state(rng_state)
        paper = board[f'{m}_paper'] if f'{m}_paper' in board else None
        has_paper = paper is not None and paper.notna().any()
        if has_paper:
            ys = [order.index(t) for t, v in zip(board['title'], paper)
                  if pd.notna(v)]
            ax.scatter(paper.dropna(), ys, marker='x', color='black', s=50,
                       zorder=5, label='paper')
        ax.set_xlabel(f'{m} (%)')
        ax.set_ylabel('')
        ax.grid(axis='x', alpha=0.3)
    fig.suptitle(title)
    caption = ('Dots: one run per seed. Black bar: mean over seeds, '
               f'whiskers: {BAND_CAPTION} (none for one seed).')
    if any(f'{m}_paper' in board and board[f'{m}_paper'].notna().any()
           for m in metrics):
        caption += ' Black ×: the number the paper reports.'
    return _save(fig, path, caption)


def plot_per_class(board: pd.DataFrame, classes: Sequence[str], title: str,
                   path: str) -> str:
    """Heatmap of per-class IoU (methods x classes, mean over seeds)."""
    mat = board.set_index('title')[[f'IoU.{c}' for c in classes]]
    mat.columns = list(classes)
    return class_heatmap(mat, title, path, fmt='.1f', vmin=0, vmax=100,
                         cmap='viridis', cbar_kws=dict(label='IoU (%)'))


def class_heatmap(mat: pd.DataFrame,
                  title: str,
                  path: str,
                  col_width: float = 0.6,
                  **heatmap_kwargs) -> str:
    """A methods x classes heatmap with annotated cells and the class names
    slanted, saved (with its vector copies) like every leaderboard plot.

    Args:
        mat (pd.DataFrame): Rows = methods, columns = classes.
        title (str): Figure title.
        path (str): PNG path.
        col_width (float): Inches per class column.
        **heatmap_kwargs: Passed to :func:`seaborn.heatmap` (format, colour
            map and range, colour bar).

    Returns:
        str: ``path``.
    """
    fig, ax = plt.subplots(figsize=(col_width * len(mat.columns) + 2.5,
                                    0.45 * len(mat) + 1.5))
    sns.heatmap(mat.astype(float), annot=True, ax=ax,
                annot_kws=dict(fontsize=8), **heatmap_kwargs)
    ax.set_xlabel('')
    ax.set_ylabel('')
    plt.setp(ax.get_xticklabels(), rotation=45, ha='right')
    ax.set_title(title)
    return _save(fig, path)


def curves_frame(records: Sequence[Dict], metric: str) -> pd.DataFrame:
    """Tidy ``method, seed, step, <metric>`` rows from the records'
    ``curve`` (target-val scores logged during training)."""
    rows = []
    for rec in records:
        if rec.get('status') != 'finished':
            continue
        for point in rec.get('curve') or []:
            if point.get(metric) is not None:
                rows.append(dict(method=rec['method'], seed=rec['seed'],
                                 step=point['step'],
                                 value=float(point[metric])))
    return pd.DataFrame(rows)


def plot_curves(records: Sequence[Dict], board: pd.DataFrame, metric: str,
                title: str, path: str,
                palette: Optional[Dict[str, str]] = None) -> Optional[str]:
    """Target-val ``metric`` against the iteration, mean ± std over seeds
    per method, coloured by ``palette`` (title -> colour; default: the
    board's methods). None (nothing written) if no run logged
    validation."""
    data = curves_frame(records, metric)
    if data.empty:
        return None
    titles = dict(zip(board['method'], board['title']))
    data = data[data['method'].isin(titles)]
    if data.empty:
        return None
    data['Method'] = data['method'].map(titles)
    order = [t for t in board['title'] if t in set(data['Method'])]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=data, x='step', y='value', hue='Method',
                 hue_order=order, palette=palette or _board_palette(board),
                 errorbar=BAND, marker='o', ax=ax)
    ax.set_xlabel('iteration')
    ax.set_ylabel(f'target val {metric} (%)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    # beside the axes: a legend inside would cover curves
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0, frameon=False)
    return _save(fig, path, 'Line: mean over seeds at each evaluation '
                 f'(dots); band: {BAND_CAPTION}.')


def plot_all(frame: pd.DataFrame, records: Sequence[Dict],
             board: pd.DataFrame, metrics: Sequence[str],
             classes: Sequence[str], title: str, stem: str,
             palette: Optional[Dict[str, str]] = None) -> List[str]:
    """Every plot of a task, coloured by ``palette`` (title -> colour, the
    report's :func:`method_palette`); returns the written paths."""
    palette = palette or _board_palette(board)
    out = [plot_scores(frame, board, metrics, title, f'{stem}_scores.png',
                       palette)]
    if classes:
        out.append(plot_per_class(board, classes, title,
                                  f'{stem}_per_class.png'))
    curve = plot_curves(records, board, metrics[0], title,
                        f'{stem}_curves.png', palette)
    if curve is None and metrics[0] != 'mIoU':
        curve = plot_curves(records, board, 'mIoU', title,
                            f'{stem}_curves.png', palette)
    if curve:
        out.append(curve)
    return out
