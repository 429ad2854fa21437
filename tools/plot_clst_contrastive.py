"""Plot what CLST's contrastive term does over training, from a suite's run
records: the InfoNCE (before its weight), the cosine similarity of the
target class centroids to the same-class and other-class source centroids,
and the source-target centroid distance of every class (the memory
centroids, ``cl.dist.<class>``), mean ± std over seeds per method, each
method in its colour of every report (``method_palette``).

The records keep these training scalars in ``train_curve`` (as logged,
i.e. averaged over the logger's window); methods that logged none (no
contrastive term) are left out. Writes ``<stem>_contrastive.{png,svg}`` and
``<stem>_centroid_distance.{png,svg}``, by default next to the suite's
report (``<results_dir>/<task>/<report_name>``).

Example::

    python tools/plot_clst_contrastive.py configs/benchmarks/ablations.py
    python tools/plot_clst_contrastive.py \
        configs/benchmarks/clst_sensitivity.py
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # files only
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

DIST = 'cl.dist.'
PANELS = (('cl.nce', 'InfoNCE (unweighted)'),
          ('cl.pos_sim', 'cos(target, source), same class'),
          ('cl.neg_sim', 'cos(target, source), other classes'),
          ('dist_mean', 'centroid distance 1 - cos, class mean'))


def contrastive_frame(records: Sequence[Dict],
                      titles: Dict[str, str]) -> pd.DataFrame:
    """Tidy ``Method, seed, iter, key, value`` rows of the finished
    records' contrastive scalars (``cl.*``; ``dist_mean``: the mean of the
    per-class distances logged at that iteration).

    Args:
        records (list[dict]): Run records.
        titles (dict): Method key -> display name (methods not in it are
            left out).

    Returns:
        pd.DataFrame: The rows (empty if no record logged the term).
    """
    rows = []
    for rec in records:
        if rec.get('status') != 'finished' or rec['method'] not in titles:
            continue
        for point in rec.get('train_curve') or []:
            if 'cl.nce' not in point:
                continue  # before the term starts
            base = dict(Method=titles[rec['method']], seed=rec['seed'],
                        iter=point['iter'])
            dists = {k[len(DIST):]: v for k, v in point.items()
                     if k.startswith(DIST)}
            for key, value in point.items():
                if key.startswith('cl.') and not key.startswith(DIST):
                    rows.append(dict(base, key=key, value=value))
            for name, value in dists.items():
                rows.append(dict(base, key=f'{DIST}{name}', value=value))
            if dists:
                rows.append(dict(base, key='dist_mean',
                                 value=sum(dists.values()) / len(dists)))
    return pd.DataFrame(rows)


def _save(fig, stem: str) -> List[str]:
    from clst_mmseg.benchmark.plots import BAND_CAPTION
    fig.text(0.01, -0.01, f'Line: mean over seeds; band: {BAND_CAPTION}.',
             ha='left', va='top', fontsize=8, color='0.3')
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    paths = [f'{stem}.png', f'{stem}.svg']
    # svg: no date and fixed element ids, so figures rebuilt from the same
    # records are byte-identical
    with plt.rc_context({'svg.hashsalt': 'clst'}):
        for path in paths:
            fig.savefig(path, dpi=110, bbox_inches='tight',
                        metadata={'Date': None} if path.endswith('.svg')
                        else None)
    plt.close(fig)
    return paths


def plot_contrastive(frame: pd.DataFrame, order: Sequence[str], title: str,
                     stem: str,
                     palette: Optional[Dict[str, str]] = None) -> List[str]:
    """Write the two figures.

    Args:
        frame (pd.DataFrame): :func:`contrastive_frame`'s rows.
        order (list[str]): Method titles in display order.
        title (str): Figure title.
        stem (str): Output path without the suffixes.
        palette (dict, optional): Method title -> colour (the suite's
            ``method_palette``); default: seaborn's.

    Returns:
        list[str]: The written files.
    """
    from clst_mmseg.benchmark.plots import BAND
    order = [m for m in order if m in set(frame['Method'])]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.6))
    for ax, (key, label) in zip(axes, PANELS):
        sns.lineplot(data=frame[frame['key'] == key], x='iter', y='value',
                     hue='Method', hue_order=order, palette=palette,
                     errorbar=BAND, ax=ax, legend=ax is axes[-1])
        ax.set_xlabel('iteration')
        ax.set_ylabel('')
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], 'upper left', bbox_to_anchor=(1.02, 1),
                        fontsize=8)
    fig.suptitle(title, y=1.04)
    written = _save(fig, f'{stem}_contrastive')

    dist = frame[frame['key'].str.startswith(DIST)].assign(
        Class=lambda d: d['key'].str[len(DIST):])
    cols = min(3, len(order))
    rows = -(-len(order) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows),
                             squeeze=False, sharey=True)
    classes = list(dict.fromkeys(dist['Class']))
    for ax, method in zip(axes.flat, order):
        sns.lineplot(data=dist[dist['Method'] == method], x='iter',
                     y='value', hue='Class', hue_order=classes,
                     errorbar=BAND, ax=ax, legend=ax is axes.flat[0])
        ax.set_title(method, fontsize=9)
        ax.set_xlabel('iteration')
        ax.set_ylabel('source-target centroid distance (1 - cos)')
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(order):]:
        ax.set_visible(False)
    if axes.flat[0].get_legend() is not None:
        sns.move_legend(axes.flat[0], 'upper right', fontsize=7)
    fig.suptitle(title, y=1.02)
    return written + _save(fig, f'{stem}_centroid_distance')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('suite', nargs='?',
                        default='configs/benchmarks/ablations.py',
                        help='suite file whose run records to read')
    parser.add_argument('--task', default=None,
                        help="task to plot (default: the suite's first)")
    parser.add_argument('--results-dir', default=None,
                        help="records folder root (default: the suite's)")
    parser.add_argument('--out', default=None,
                        help='output stem (default: <results_dir>/<task>/'
                        '<report_name>)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from clst_mmseg.benchmark.plots import method_palette
    from clst_mmseg.benchmark.publish import method_rows, suite_records
    from clst_mmseg.benchmark.store import ResultsStore
    from clst_mmseg.benchmark.suite import SuiteError, load_suite
    args = parse_args(argv)
    try:
        suite = load_suite(args.suite, results_dir=args.results_dir)
    except SuiteError as e:
        sys.exit(f'error: {e}')
    task = args.task or suite.tasks[0]
    if task not in suite.tasks:
        sys.exit(f'error: --task {task!r} is not a task of {args.suite} '
                 f'{suite.tasks}')
    records = [r for r in suite_records(suite, ResultsStore(
        suite.results_dir)) if r['task'] == task]
    titles = {m.name: m.title for m in suite.methods}
    frame = contrastive_frame(records, titles)
    if frame.empty:
        sys.exit(f'error: no finished run of {args.suite} on {task} logged '
                 'the contrastive term (records need train_curve with cl.*)')
    stem = args.out or osp.join(suite.results_dir, task, suite.report_name)
    for path in plot_contrastive(frame, [m.title for m in suite.methods],
                                 suite.task_title(task), stem,
                                 method_palette(method_rows(suite))):
        print(f'written: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
