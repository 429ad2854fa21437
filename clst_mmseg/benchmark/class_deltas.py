"""Per-class change against the baseline: each method's IoU per class minus
the baseline's (means over seeds), as a table and a diverging heatmap, so a
class that collapses under a method is visible at a glance."""
import math
from typing import Dict, Optional, Sequence

import pandas as pd

from .report import task_classes

DASH = '–'


def class_deltas(frame: pd.DataFrame, task: str, methods: Sequence[Dict],
                 baseline: str) -> pd.DataFrame:
    """Mean IoU per class of every method minus the baseline's.

    Args:
        frame (pd.DataFrame): :func:`~.report.records_frame` output.
        task (str): Task key.
        methods (list[dict]): Rows (``name``, ``title``), in row order; the
            baseline's own row is left out.
        baseline (str): Method the change is taken against.

    Returns:
        pd.DataFrame: Index: method titles with finished runs; columns: the
        task's classes; values: Δ IoU in points (NaN where either side has
        no value). Empty if the baseline has no finished run on the task.
    """
    sub = frame[frame['task'] == task] if len(frame) else frame
    if sub.empty:
        return pd.DataFrame()
    classes = task_classes(sub)
    cols = [f'IoU.{c}' for c in classes]
    base = sub[sub['method'] == baseline]
    if base.empty:
        return pd.DataFrame()
    ref = base[cols].mean()
    rows, index = [], []
    for m in methods:
        if m['name'] == baseline:
            continue
        runs = sub[sub['method'] == m['name']]
        if runs.empty:
            continue
        rows.append((runs[cols].mean() - ref).to_numpy())
        index.append(m.get('title', m['name']))
    return pd.DataFrame(rows, index=index, columns=list(classes),
                        dtype=float)


def deltas_markdown(deltas: pd.DataFrame, baseline_title: str) -> str:
    """The Δ IoU table as Markdown (signed, one decimal)."""
    header = ['Method'] + list(deltas.columns)
    lines = [f'Per-class IoU change against {baseline_title} (points, mean '
             'over seeds):', '', '| ' + ' | '.join(header) + ' |',
             '|' + '|'.join([':---'] + ['---:'] * len(deltas.columns)) + '|']
    for title, row in deltas.iterrows():
        cells = [DASH if math.isnan(v) else f'{v:+.1f}' for v in row]
        lines.append('| ' + ' | '.join([str(title)] + cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_class_deltas(deltas: pd.DataFrame, title: str, path: str,
                      limit: Optional[float] = None) -> str:
    """Heatmap of Δ IoU (methods x classes), diverging around 0: losses
    red, gains blue.

    Args:
        deltas (pd.DataFrame): :func:`class_deltas` output.
        title (str): Figure title.
        path (str): PNG to write.
        limit (float, optional): Colour scale -limit..limit; default: the
            largest |Δ| rounded up to 5 points.

    Returns:
        str: ``path``.
    """
    from .plots import class_heatmap  # the per-class IoU plot's layout
    if limit is None:
        peak = float(deltas.abs().max().max()) if deltas.size else 0.0
        limit = max(5.0, 5.0 * math.ceil(peak / 5.0)) \
            if not math.isnan(peak) else 5.0
    return class_heatmap(deltas, title, path, col_width=0.7, fmt='+.1f',
                         center=0, vmin=-limit, vmax=limit, cmap='RdBu',
                         cbar_kws=dict(label='Δ IoU vs baseline (points)'))
