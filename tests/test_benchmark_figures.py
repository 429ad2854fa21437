"""What every figure and table of every report shares: one colour per
method, one meaning of a shaded band (said in the caption), the best and
second-best adaptation method marked in the LaTeX tables, and notes that
name only rows the table has."""
import pandas as pd
import pytest

from clst_mmseg.benchmark import plots
from clst_mmseg.benchmark.plots import (BAND_CAPTION, METHOD_COLOURS,
                                        method_colours, method_palette)
from clst_mmseg.benchmark.report import leaderboard, records_frame
from clst_mmseg.benchmark.tables import context_note, latex, ranked_marks

# CLST deliberately second and self-training third: seaborn's default
# colours follow the order of a figure's methods, so each figure coloured
# them differently before
ROWS = [dict(name='source_only', title='Source only', role='baseline'),
        dict(name='clst', title='CLST', role='method'),
        dict(name='self_training', title='Self-training', role='method'),
        dict(name='clst-no_contrastive', title='CLST w/o contrast',
             role='method'),
        dict(name='oracle', title='Oracle', role='upper_bound')]


def _record(method, seed, miou):
    return dict(
        run_id=f'mini-{method}-h-s{seed}', task='mini', method=method,
        seed=seed, status='finished', config_hash='h', iterations=20,
        metrics=dict(mIoU=miou), per_class_iou=dict(road=miou, car=miou),
        curve=[dict(step=10, mIoU=miou - 2), dict(step=20, mIoU=miou)],
        train_curve=[{'iter': it, 'pl_diag.coverage': 0.1 * seed + 0.2,
                      'pl_diag.precision': 0.8, 'pl_diag.recall': 0.5}
                     for it in (10, 20)],
        trajectory=[dict(step=s, metrics=dict(mIoU=miou + s / 10),
                         criteria=dict(entropy=-s / 10.0)) for s in (10, 20)])


RECORDS = [_record(m, s, 40 + 5 * i + s)
           for i, m in enumerate(r['name'] for r in ROWS) for s in range(2)]


def test_method_colours_are_fixed_and_distinct():
    few = method_colours(['clst', 'self_training'])
    more = method_colours(['self_training', 'oracle', 'clst'])
    assert few == {k: more[k] for k in few}  # subset and order: same
    assert method_colours(['clst'])['clst'] == METHOD_COLOURS['clst']
    many = [f'clst-variant{i}' for i in range(30)] + list(METHOD_COLOURS)
    colours = method_colours(many)
    assert len(set(colours.values())) == len(many)  # never twice
    assert method_palette(ROWS)['CLST'] == METHOD_COLOURS['clst']


def _svg_colours(path):
    with open(path) as f:
        text = f.read()
    return {c for c in method_colours([r['name'] for r in ROWS]).values()
            if c in text}


def test_one_colour_per_method_in_every_figure(tmp_path, monkeypatch):
    """The scores, curves, selection-criteria and pseudo-label figures of
    one report draw CLST and self-training in the same colours, and every
    band's caption says the same thing."""
    from clst_mmseg.benchmark.selection_report import (plot_criteria,
                                                       plot_pseudo_labels,
                                                       selection_tables)
    captions = {}
    real_save = plots._save

    def save(fig, path, caption=None):
        captions[path] = caption
        return real_save(fig, path, caption)

    monkeypatch.setattr(plots, '_save', save)
    frame = records_frame(RECORDS)
    board = leaderboard(frame, 'mini', ROWS)
    palette = method_palette(ROWS)
    titles = {r['name']: r['title'] for r in ROWS}
    stem = str(tmp_path / 'lb')
    figures = plots.plot_all(frame, RECORDS, board, ['mIoU'], ['road', 'car'],
                             'mini', stem, palette)
    tables = selection_tables(RECORDS, 'mini', 'mIoU', ROWS)
    figures += plot_criteria(tables['frame'], titles, 'mIoU',
                             f'{stem}_criteria', palette)
    # the pseudo-label plot shows two of the methods only
    figures += plot_pseudo_labels(
        [r for r in RECORDS if r['method'] in ('self_training', 'clst')],
        titles, f'{stem}_pseudo_labels', palette)
    clst, st = METHOD_COLOURS['clst'], METHOD_COLOURS['self_training']
    for png in figures:
        if png.endswith('_per_class.png'):
            continue  # a heatmap: no method colours
        svg = plots.vector_copies(png)[0]
        assert {clst, st} <= _svg_colours(svg), png
    banded = [figures[2], figures[-1]]  # curves, pseudo-labels
    assert all(f'band: {BAND_CAPTION}' in captions[p] for p in banded)
    assert f'whiskers: {BAND_CAPTION}' in captions[figures[0]]


def test_latex_bold_best_underline_second_among_methods():
    roles = ['baseline', 'method', 'method', 'method', 'upper_bound']
    assert ranked_marks([50, 41.04, 43.0, 40.96, 90], roles) == [
        '', 'second', 'best', 'second', '']  # 41.0 shown twice: both marked
    assert ranked_marks([1.0, float('nan'), 2.0], ['method'] * 3) == [
        'second', '', 'best']
    assert ranked_marks([1.0, 9.0], ['method', 'upper_bound']) == ['', '']
    board = leaderboard(records_frame(RECORDS), 'mini', ROWS)
    tex = latex('mini', 'mini', board, ['mIoU'], ['road'], [])
    # the ablation row scores best of the methods, CLST is second-best...
    assert r'CLST w/o contrast & 2 & \textbf{' in tex
    assert r'Self-training & 2 & \underline{' in tex
    # ...the oracle scores higher still, but is context: never marked
    assert r'\textit{Oracle} & 2 & 60.5' in tex
    assert 'Best adaptation method in bold, second best underlined' in tex


def test_notes_name_only_the_context_rows_the_table_has():
    sensitivity = pd.DataFrame(dict(
        title=['CLST (default)', 'CLST (w 1.0)'],
        role=['baseline', 'method']))
    note = context_note(sensitivity)
    assert note == ('Rows in italics are context, not ranked with the '
                    'adaptation methods: the baseline CLST (default).')
    assert 'oracle' not in note.lower()
    assert context_note(pd.DataFrame(dict(title=['A'], role=['method']))) \
        == ''
    board = leaderboard(records_frame(RECORDS), 'mini', ROWS)
    assert context_note(board).endswith(
        'the baseline Source only and the upper bound Oracle.')


@pytest.mark.parametrize('suffix', ['_contrastive.svg'])
def test_contrastive_figure_uses_the_report_palette(tmp_path, suffix):
    import importlib.util
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        'plot_clst_contrastive',
        osp.join(root, 'tools', 'plot_clst_contrastive.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    frame = pd.DataFrame([
        dict(Method=t, seed=s, iter=it, key=k, value=0.1 * it + s)
        for t in ('CLST', 'CLST w/o contrast') for s in (0, 1)
        for it in (10, 20) for k in ('cl.nce', 'cl.pos_sim', 'cl.neg_sim',
                                     'dist_mean', 'cl.dist.road')])
    tool.plot_contrastive(frame, ['CLST', 'CLST w/o contrast'], 'mini',
                          str(tmp_path / 'abl'), method_palette(ROWS))
    with open(tmp_path / f'abl{suffix}') as f:
        assert METHOD_COLOURS['clst'] in f.read()
