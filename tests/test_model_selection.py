"""Label-free criteria against hand-computed values, and checkpoint
selection / regret / ranks / seed statistics on fake records."""
import math
import os.path as osp

import numpy as np
import pandas as pd
import pytest
import torch

from clst_mmseg.benchmark.selection import (protocol_ranks,
                                            protocol_table, select,
                                            selections, seeds_needed,
                                            t_test_power, trajectory_frame)
from clst_mmseg.evaluation.label_free import (LabelFreeCriteria, agreement,
                                              information_maximisation,
                                              mean_entropy,
                                              soft_neighbourhood_density)

LN2 = math.log(2)


def _h(*p):
    return -sum(x * math.log(x) for x in p if x > 0)


def test_entropy_and_im_by_hand():
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert mean_entropy(probs) == pytest.approx(LN2 / 2)
    # marginal (0.75, 0.25)
    assert information_maximisation(probs) == pytest.approx(
        _h(0.75, 0.25) - LN2 / 2)
    # (N, C, H, W) layout gives the same numbers
    img = probs.t().reshape(1, 2, 1, 2)
    assert mean_entropy(img) == pytest.approx(LN2 / 2)


def test_snd_by_hand():
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    t = 0.5
    # rows 1 and 2: similarities to the others (1, 0) / t -> softmax
    q = math.exp(2) / (math.exp(2) + 1)
    row12 = _h(q, 1 - q)
    # row 3: similarities (0, 0) -> uniform
    expected = (2 * row12 + LN2) / 3
    assert soft_neighbourhood_density(probs, t) == pytest.approx(expected)
    # keeping self-similarity (the reference segmentation script)
    e = math.exp(2)
    r1 = _h(e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1))
    r3 = _h(1 / (2 + e), 1 / (2 + e), e / (2 + e))
    assert soft_neighbourhood_density(probs, t, exclude_self=False) == \
        pytest.approx((2 * r1 + r3) / 3)
    with pytest.raises(ValueError, match='>= 2 samples'):
        soft_neighbourhood_density(probs[:1])


def test_accumulator_matches_whole_set_and_is_seeded():
    g = torch.Generator().manual_seed(3)
    probs = torch.rand(4, 3, 5, 6, generator=g).softmax(1)
    acc = LabelFreeCriteria(snd_pixels=10, seed=1)
    acc.update(probs[:2])
    acc.update(probs[2:])
    out = acc.compute()
    assert out['raw_entropy'] == pytest.approx(mean_entropy(probs))
    assert out['entropy'] == pytest.approx(-mean_entropy(probs))
    assert out['im'] == pytest.approx(information_maximisation(probs))
    again = LabelFreeCriteria(snd_pixels=10, seed=1)
    again.update(probs)
    assert again.compute()['snd'] == out['snd']
    # all pixels when an image has fewer than snd_pixels
    small = LabelFreeCriteria(snd_pixels=1000)
    small.update(probs[:1])
    flat = probs[0].reshape(3, -1).t()
    assert small.compute()['snd'] == pytest.approx(
        soft_neighbourhood_density(flat))
    with pytest.raises(ValueError, match='no prediction'):
        LabelFreeCriteria().compute()


def test_agreement():
    a = torch.tensor([[0, 1, 2, 255]])
    b = torch.tensor([[0, 2, 2, 1]])
    assert agreement(a, b) == pytest.approx(2 / 3)
    assert math.isnan(agreement(torch.full((1, 2), 255), b[:, :2]))


def _record(method, seed, targets, **criteria):
    traj = []
    for i, t in enumerate(targets):
        traj.append(dict(step=100 * (i + 1), metrics=dict(mIoU=t),
                         criteria={k: v[i] for k, v in criteria.items()}))
    return dict(status='finished', task='mini', method=method, seed=seed,
                run_id=f'{method}-s{seed}', trajectory=traj)


RECORDS = [
    _record('a', 0, [40, 50, 45], entropy=[-1.0, -0.8, -0.5],
            snd=[2, 3, 1]),
    # entropy ties at steps 100/200: the later one wins
    _record('a', 1, [42, 41, 44], entropy=[-0.9, -0.9, -1.0],
            snd=[1, 1, 5]),
    _record('b', 0, [47, 46, 44], entropy=[-0.1, -0.5, -0.9],
            snd=[9, 1, 1]),
    _record('b', 1, [48, 46, 43], entropy=[-0.2, -0.5, -0.9],
            snd=[1, 9, 1]),
    dict(status='failed', task='mini', method='b', seed=2, run_id='x',
         trajectory=[dict(step=1, metrics=dict(mIoU=99), criteria={})]),
]


def test_selection_and_regret_exact():
    frame = trajectory_frame(RECORDS, 'mIoU')
    assert len(frame) == 12  # the failed run is left out
    picks = selections(frame).set_index(['run_id', 'protocol'])
    exp = {  # (step, selected, regret)
        ('a-s0', 'last'): (300, 45, 5), ('a-s0', 'oracle'): (200, 50, 0),
        ('a-s0', 'entropy'): (300, 45, 5), ('a-s0', 'snd'): (200, 50, 0),
        ('a-s1', 'last'): (300, 44, 0), ('a-s1', 'entropy'): (200, 41, 3),
        ('a-s1', 'snd'): (300, 44, 0),
        ('b-s0', 'last'): (300, 44, 3), ('b-s0', 'entropy'): (100, 47, 0),
        ('b-s0', 'snd'): (100, 47, 0), ('b-s1', 'snd'): (200, 46, 2),
        ('b-s1', 'entropy'): (100, 48, 0),
    }
    for key, (step, sel, reg) in exp.items():
        row = picks.loc[key]
        assert (row['step'], row['selected'], row['regret']) == (step, sel,
                                                                 reg), key
    table = protocol_table(selections(frame)).set_index(['method',
                                                         'protocol'])
    assert table.loc[('a', 'last'), 'mean'] == pytest.approx(44.5)
    assert table.loc[('a', 'last'), 'regret'] == pytest.approx(2.5)
    assert table.loc[('a', 'entropy'), 'mean'] == pytest.approx(43.0)
    assert table.loc[('b', 'oracle'), 'mean'] == pytest.approx(47.5)
    assert table.loc[('b', 'snd'), 'regret'] == pytest.approx(1.0)
    # ranks: last iterate a (44.5) > b (43.5); entropy b (47.5) > a (43)
    ranks = protocol_ranks(protocol_table(selections(frame)))
    r = ranks.set_index(['protocol', 'method'])['rank']
    assert (r[('last', 'a')], r[('last', 'b')]) == (1, 2)
    assert (r[('entropy', 'a')], r[('entropy', 'b')]) == (2, 1)
    tau = ranks.set_index('protocol')['tau_vs_last']
    assert tau['entropy'].iloc[0] == pytest.approx(-1.0)
    assert tau['last'].iloc[0] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no criterion 'im'"):
        select(frame, 'im')


def test_seeds_needed():
    # difference = 1 sd: the textbook answer is ~17 per group for 80 %
    # power at alpha 0.05 (normal approximation 15.7, t-test a bit more)
    a = [0.0, 1.0, 2.0]  # sd 1
    b = [1.0, 2.0, 3.0]
    n = seeds_needed(a, b)
    assert n == 17
    assert t_test_power(1.0, 1.0, n) >= 0.8 > t_test_power(1.0, 1.0, n - 1)
    assert seeds_needed([1.0, 1.0], [1.0, 1.0]) is None
    assert seeds_needed([1.0], [2.0, 3.0]) is None
    assert seeds_needed([0.0, 0.0], [1.0, 1.0]) == 2


def test_selection_report_tables_and_lines(tmp_path):
    from clst_mmseg.benchmark.selection_report import (markdown,
                                                       plot_criteria,
                                                       ranking_lines,
                                                       selection_tables,
                                                       seed_lines)
    methods = [dict(name='a', title='A'), dict(name='b', title='B')]
    titles = {'a': 'A', 'b': 'B'}
    tables = selection_tables(RECORDS, 'mini', 'mIoU', methods)
    wide = tables['wide'].set_index('Method')
    assert wide.loc['A', 'Last iterate'] == '44.5 (2.5)'
    assert wide.loc['A', 'Oracle (target val) †'] == '47.0'
    assert wide.loc['B', 'Min. entropy'] == '47.5 (0.0)'
    assert wide.loc['B', 'SND'] == '46.5 (1.0)'
    lines = ranking_lines(tables['ranks'], titles, ['a', 'b'])
    assert lines[0] == 'Last iterate: A > B'
    assert 'Min. entropy: B > A (ranking differs from the last iterate)' \
        in lines
    seeds = seed_lines(tables['picks'], [('a', 'b')], titles, 'mIoU')
    assert seeds[0].startswith('A vs B: +1.0 mIoU, 95 % CI [')
    assert "Welch's t-test, 2 vs 2 seeds)" in seeds[0]
    assert 'Holm' not in seeds[0]  # one comparison: nothing to correct
    assert seeds[0].endswith('for p < 0.05 at 80 % power')
    images = plot_criteria(tables['frame'], titles, 'mIoU',
                           str(tmp_path / 'sel'))
    assert images == [str(tmp_path / 'sel.png')]
    assert all((tmp_path / f'sel.{e}').stat().st_size > 1000
               for e in ('png', 'svg', 'pdf'))
    md = markdown('mini', tables, 'mIoU', lines, seeds, images)
    assert '| A | 2 | 44.5 (2.5) | 47.0 |' in md
    assert selection_tables([], 'mini', 'mIoU', methods) is None


def test_ranking_of_a_criterion_some_methods_lack():
    """Teacher agreement ranks only the methods with a teacher: the same
    relative order as the last iterate is no change, a swap is."""
    import pandas as pd

    from clst_mmseg.benchmark.selection_report import ranking_lines
    rows = [('last', 'a', 1), ('last', 'b', 2), ('last', 'c', 3),
            ('agreement', 'a', 1), ('agreement', 'c', 2),
            ('entropy', 'c', 1), ('entropy', 'a', 2)]
    ranks = pd.DataFrame([dict(task='mini', protocol=p, method=m, rank=r)
                          for p, m, r in rows])
    lines = ranking_lines(ranks, {'a': 'A', 'b': 'B', 'c': 'C'},
                          ['a', 'b', 'c'])
    assert lines == [
        'Last iterate: A > B > C', 'Teacher agreement: A > C',
        'Min. entropy: C > A (ranking differs from the last iterate)'
    ]


def test_publish_selection_writes_every_format(tmp_path):
    from clst_mmseg.benchmark.selection_report import publish_selection
    records = [dict(r) for r in RECORDS]
    for r in records[:2]:
        r['train_curve'] = [
            {'iter': 100, 'pl_diag.coverage': 0.2, 'pl_diag.precision': 0.9,
             'pl_diag.recall': 0.3},
            {'iter': 200, 'pl_diag.coverage': 0.4, 'pl_diag.precision': 0.8,
             'pl_diag.recall': 0.5}]
    rows = [dict(name='a', title='A', role='method'),
            dict(name='b', title='B', role='method')]
    printed = []
    paths = publish_selection('mini', 'mini task', records, rows, 'mIoU',
                              str(tmp_path / 'leaderboard'), [('a', 'b')],
                              printed.append)
    names = sorted(osp.basename(p) for p in paths)
    assert names == sorted([
        'leaderboard_selection.md', 'leaderboard_selection.tex',
        'leaderboard_selection.html', 'leaderboard_selection.csv',
        'leaderboard_selection_picks.csv',
        'leaderboard_selection_criteria.png',
        'leaderboard_selection_criteria.svg',
        'leaderboard_selection_criteria.pdf',
        'leaderboard_pseudo_labels.png', 'leaderboard_pseudo_labels.svg',
        'leaderboard_pseudo_labels.pdf'])
    md = (tmp_path / 'leaderboard_selection.md').read_text()
    assert md == printed[0]
    assert '![leaderboard_pseudo_labels.png]' in md
    tex = (tmp_path / 'leaderboard_selection.tex').read_text()
    assert r'Oracle (target val) $^\dagger$' in tex
    # per protocol the better method bold, the other underlined
    assert (r'A & 2 & \textbf{44.5 (2.5)} & \underline{47.0} & '
            r'\underline{43.0 (4.0)} & \textbf{47.0 (0.0)}') in tex
    assert r'B & 2 & \underline{43.5 (4.0)} & \textbf{47.5}' in tex
    html = (tmp_path / 'leaderboard_selection.html').read_text()
    assert html.count('<img') == 2
    picks = pd.read_csv(tmp_path / 'leaderboard_selection_picks.csv')
    assert len(picks) == 4 * 4  # 4 runs x (last, oracle, entropy, snd)
    assert publish_selection('other', 't', records, rows, 'mIoU',
                             str(tmp_path / 'x'), [], printed.append) == []
