"""Leaderboards from a fake set of records: exact means, stds, deltas to
the paper, class-subset means, per-class IoU, compute, significance, and
the Markdown / LaTeX / CSV / HTML renderings."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clst_mmseg.benchmark.references import load_references
from clst_mmseg.benchmark.report import (comparisons, leaderboard,
                                         records_frame, task_classes,
                                         task_metrics)
from clst_mmseg.benchmark.significance import format_p, welch
from clst_mmseg.benchmark.tables import (comparison_lines, html_page, latex,
                                         markdown)

METHODS = [
    dict(name='oracle', title='Oracle', reference=None, role='upper_bound'),
    dict(name='clst', title='CLST', reference='clst', role='method'),
    dict(name='self_training', title='Self-training',
         reference='self_training', role='method'),
    dict(name='source_only', title='Source only', reference=None,
         role='baseline'),
]


def _rec(method, seed, m16, m13, road, pole, mem=1000.0, status='finished',
         chash='h1'):
    return dict(
        run_id=f'synthia2cs-{method}-{chash}-s{seed}', task='synthia2cs',
        method=method, seed=seed, status=status, config_hash=chash,
        iterations=4000, wall_time_s=1800.0, compute_time_s=3600.0,
        devices=dict(type='cuda', count=2), peak_memory_mb=mem,
        peak_memory_kind='gpu_allocated',
        checkpoint=dict(oracle_selection=False),
        git=dict(revision='abc', dirty=False),
        metrics=dict(aAcc=90.0, mIoU=m16 - 5, mIoU16=m16, mIoU13=m13),
        per_class_iou=dict(road=road, pole=pole),
        curve=[dict(step=2000, mIoU=m16 - 3, mIoU16=m16 - 2),
               dict(step=4000, mIoU=m16 - 1, mIoU16=m16)])


RECORDS = [
    _rec('source_only', 0, 30, 35, 80, 1),
    _rec('source_only', 1, 31, 36, 81, 2),
    _rec('source_only', 2, 32, 37, 82, 3),
    _rec('clst', 0, 50, 58, 90, None, mem=1000),
    _rec('clst', 1, 52, 59, 92, 10, mem=2000),
    _rec('clst', 2, 54, 63, 94, 20, mem=1500),
    _rec('clst', 3, 99, 99, 99, 99, status='failed'),
    _rec('self_training', 0, 45, 50, 85, 5),
    _rec('self_training', 1, 46, 52, 86, 7),
    _rec('oracle', 0, 70, 75, 97, 40),
]


@pytest.fixture(scope='module')
def board():
    frame = records_frame(RECORDS)
    return leaderboard(frame, 'synthia2cs', METHODS, load_references())


def test_tidy_frame():
    frame = records_frame(RECORDS)
    assert len(frame) == 9  # the failed run is left out
    assert task_metrics(frame) == ['mIoU16', 'mIoU13']
    assert task_classes(frame) == ['road', 'pole']
    assert frame['device_hours'].tolist() == [2.0] * 9  # 1 h x 2 GPUs
    assert math.isnan(frame.loc[3, 'IoU.pole'])


def test_leaderboard_values(board):
    assert board['method'].tolist() == ['source_only', 'clst',
                                        'self_training', 'oracle']
    assert board['role'].tolist() == ['baseline', 'method', 'method',
                                      'upper_bound']
    b = board.set_index('method')
    assert b['n_seeds'].tolist() == [3, 3, 2, 1]
    assert b.at['clst', 'seeds'] == '0,1,2'
    # means and sample stds (ddof=1) of the class subsets
    assert b.at['clst', 'mIoU16_mean'] == 52.0
    assert b.at['clst', 'mIoU16_std'] == 2.0
    assert b.at['clst', 'mIoU13_mean'] == 60.0
    assert b.at['clst', 'mIoU13_std'] == pytest.approx(math.sqrt(7))
    assert b.at['source_only', 'mIoU16_mean'] == 31.0
    assert b.at['source_only', 'mIoU16_std'] == 1.0
    assert b.at['self_training', 'mIoU16_std'] == pytest.approx(
        math.sqrt(0.5))
    assert math.isnan(b.at['oracle', 'mIoU16_std'])  # one seed
    # paper numbers and differences (CLST: 49.8 / 57.8 on SYNTHIA)
    assert b.at['clst', 'mIoU16_paper'] == 49.8
    assert b.at['clst', 'mIoU16_delta'] == pytest.approx(2.2)
    assert b.at['clst', 'mIoU13_paper'] == 57.8
    assert b.at['clst', 'mIoU13_delta'] == pytest.approx(2.2)
    assert 'arXiv:2105.02001' in b.at['clst', 'mIoU16_source']
    # self-training has a GTA5 reference only
    assert math.isnan(b.at['self_training', 'mIoU16_paper'])
    assert math.isnan(b.at['source_only', 'mIoU13_delta'])
    # per-class means over seeds (NaN IoU left out)
    assert b.at['clst', 'IoU.road'] == 92.0
    assert b.at['clst', 'IoU.pole'] == 15.0
    assert b.at['self_training', 'IoU.pole'] == 6.0
    # compute
    assert b.at['clst', 'iterations'] == 4000
    assert b.at['clst', 'device'] == 'cuda'
    assert b.at['clst', 'device_hours'] == 2.0
    assert b.at['clst', 'device_hours_total'] == 6.0
    assert b.at['clst', 'peak_memory_mb'] == 2000.0
    assert not b['oracle_selection'].any()


def test_rows_of_different_configs_are_refused():
    recs = RECORDS[:3] + [_rec('source_only', 3, 1, 1, 1, 1, chash='h2')]
    with pytest.raises(ValueError, match='records from 2 different configs'):
        leaderboard(records_frame(recs), 'synthia2cs', METHODS)


def test_welch():
    a, b = [50.0, 52.0, 54.0], [45.0, 46.0]
    va, vb = 4.0 / 3, 0.5 / 2
    t = 6.5 / math.sqrt(va + vb)
    df = (va + vb)**2 / (va**2 / 2 + vb**2 / 1)
    res = welch(a, b)
    assert res['diff'] == 6.5 and res['n_a'] == 3 and res['n_b'] == 2
    assert res['t'] == pytest.approx(t)
    assert res['df'] == pytest.approx(df)
    assert res['p'] == pytest.approx(2 * stats.t.sf(t, df))
    assert math.isnan(welch([1.0], [2.0, 3.0])['p'])  # one seed
    assert math.isnan(welch([1.0, 1.0], [2.0, 2.0])['p'])  # no variance
    assert format_p(0.0123) == 'p = 0.012'
    assert format_p(1e-5) == 'p < 0.001'
    assert format_p(float('nan')) == 'p n/a'


def test_comparisons():
    frame = records_frame(RECORDS)
    comps = comparisons(frame, 'synthia2cs', 'mIoU16',
                        [('clst', 'self_training'), ('clst', 'dacs')])
    assert len(comps) == 1  # no dacs records
    lines = comparison_lines(comps, {m['name']: m['title'] for m in METHODS})
    w = welch([50, 52, 54], [45, 46])
    # the Welch t-interval: the difference ± t(0.975, Welch df) x SE
    half = stats.t.ppf(0.975, w['df']) * math.sqrt(4.0 / 3 + 0.5 / 2)
    assert (w['ci_low'], w['ci_high']) == pytest.approx((6.5 - half,
                                                         6.5 + half))
    # one comparison: no Holm column
    assert lines == [f'CLST vs Self-training: +6.5 mIoU16 (95 % CI '
                     f'[{6.5 - half:+.1f}, {6.5 + half:+.1f}], p = '
                     f"{w['p']:.3f}, Welch's t-test, 3 vs 2 seeds)"]


def test_markdown(board):
    md = markdown('SYNTHIA → Cityscapes', board, ['mIoU16', 'mIoU13'],
                  ['road', 'pole'], ['CLST vs X: +1.0'], ['footer line'])
    lines = md.splitlines()
    assert lines[0] == '### SYNTHIA → Cityscapes'
    assert ('| Method | Seeds | mIoU16 | Paper | Δ | mIoU13 | Paper | Δ | '
            'Iterations | GPU-h/run | Peak memory |') in lines
    assert ('| CLST | 3 | 52.0 ± 2.0 | 49.8 | +2.2 | 60.0 ± 2.6 | 57.8 | '
            '+2.2 | 4000 | 2.0 | 1.95 GB GPU |') in lines
    assert ('| *Source only* | 3 | 31.0 ± 1.0 |  |  | 36.0 ± 1.0 |  |  | '
            '4000 | 2.0 | 0.98 GB GPU |') in lines
    assert '| *Oracle* | 1 | 70.0 |  |  | 75.0 |  |  | 4000 | 2.0 | 0.98 GB'\
        ' GPU |' in lines
    assert '| CLST | 92.0 | 15.0 |' in lines
    assert '- CLST vs X: +1.0' in lines
    assert any(ln.startswith('- CLST, mIoU16: 49.8 (Marsden et al.')
               for ln in lines)
    assert 'footer line' in lines


def test_latex_csv_html(board, tmp_path):
    tex = latex('SYNTHIA → Cityscapes', 'synthia2cs', board,
                ['mIoU16', 'mIoU13'], ['road', 'pole'], [])
    assert r'\toprule' in tex and r'\bottomrule' in tex
    # the best adaptation method bold, the second underlined; the oracle
    # (higher) and source-only are context, never marked
    assert r'\textbf{52.0 $\pm$ 2.0} & 49.8 & +2.2' in tex
    assert r'& \underline{45.5 $\pm$ 0.7} &' in tex
    assert r'\textit{Oracle} & 1 & 70.0 &' in tex
    assert r'\textit{Source only} & 3 & 31.0 $\pm$ 1.0' in tex
    assert r'SYNTHIA $\rightarrow$ Cityscapes' in tex
    assert r'GPU-h/run' in tex and r'\label{tab:synthia2cs}' in tex
    assert tex.count(r'\midrule') == 2 * 3  # header + 2 role changes, x2
    path = tmp_path / 'board.csv'
    board.to_csv(path, index=False)
    back = pd.read_csv(path).set_index('method')
    assert back.at['clst', 'mIoU13_std'] == pytest.approx(math.sqrt(7))
    png = tmp_path / 'x.png'
    png.write_bytes(b'\x89PNG fake')
    page = html_page('SYNTHIA → Cityscapes', board, ['mIoU16'], ['road'],
                     ['a vs b'], [str(png)])
    assert page.startswith('<!DOCTYPE html>')
    assert '<tr class="context"><td>Source only</td>' in page
    assert 'data:image/png;base64,' in page and '<li>a vs b</li>' in page
    assert 'src="http' not in page and '<link' not in page


def test_plots(board, tmp_path):
    from clst_mmseg.benchmark.plots import curves_frame, plot_all
    frame = records_frame(RECORDS)
    curves = curves_frame(RECORDS, 'mIoU16')
    assert len(curves) == 18 and set(curves['step']) == {2000, 4000}
    paths = plot_all(frame, RECORDS, board, ['mIoU16', 'mIoU13'],
                     ['road', 'pole'], 'title', str(tmp_path / 'lb'))
    assert [p.rsplit('_', 1)[-1] for p in paths] == [
        'scores.png', 'class.png', 'curves.png']
    from clst_mmseg.benchmark.plots import vector_copies
    for p in paths:
        with open(p, 'rb') as f:
            assert f.read(4) == b'\x89PNG'
        svg, pdf = vector_copies(p)
        with open(pdf, 'rb') as f:
            assert f.read(5) == b'%PDF-'
        with open(svg) as f:
            text = f.read()
        assert '<svg' in text and '<dc:date>' not in text  # reproducible
    assert np.isfinite(board['mIoU16_mean']).all()

def test_peak_memory_is_the_growth_during_training():
    from clst_mmseg.benchmark.tables import _memory
    from clst_mmseg.benchmark.workdir import peak_rss_growth_mb
    entries = [dict(iter=1, loss=1.0), dict(host_rss_growth_mb=52.6),
               dict(host_rss_growth_mb=61.0, step=1500)]  # a resumed run
    assert peak_rss_growth_mb(entries) == 61.0
    assert peak_rss_growth_mb(entries[:1]) is None
    assert _memory(61.0, 'host_rss_growth') == '61 MB RSS growth'
    assert _memory(2000.0, 'gpu_allocated') == '1.95 GB GPU'


def test_provenance_lines_count_runs_per_revision():
    from clst_mmseg.benchmark.publish import provenance_lines
    recs = [dict(status='finished', git=dict(revision='a' * 40, dirty=d))
            for d in (False, True, True)]
    recs.append(dict(status='finished', git=dict(revision='b' * 40,
                                                 dirty=False)))
    recs.append(dict(status='failed', git=dict(revision='c' * 40)))
    lines = provenance_lines(recs, expected=6)
    assert lines[0].startswith('Built from 4 finished run record(s) of the '
                               "suite's 6 run(s)")
    assert lines[1] == ('Code: git aaaaaaaaaa (3 runs, 2 with uncommitted '
                        'changes), bbbbbbbbbb (1 run).')
    assert lines[2] == ('2 of 4 run(s) from a tree with uncommitted changes '
                        '(their patches are beside the records, in diffs/).')
    recs[1]['git']['diff_file'] = '0123456789abcdef.diff'
    assert provenance_lines(recs, expected=6)[1] == (
        'Code: git aaaaaaaaaa (3 runs, 2 with uncommitted changes: '
        'diffs/0123456789abcdef.diff), bbbbbbbbbb (1 run).')
    clean = [dict(status='finished', git=dict(revision='a' * 40,
                                              dirty=False))]
    assert provenance_lines(clean, expected=1)[2] == (
        'Every run from committed code (clean tree).')
    timed = [dict(status='finished', wall_time_s=w * 60,
                  started_at=f'2026-01-01T00:{m:02d}:00+00:00',
                  finished_at=f'2026-01-01T00:{m + w:02d}:00+00:00',
                  git=dict(revision='a' * 40, dirty=False))
             for w, m in ((2, 0), (3, 0), (4, 2))]
    assert provenance_lines(timed, expected=3)[3] == (
        'Wall time per run: 2.0-4.0 min (median 3.0); first start to last '
        'finish: 6 min.')


def _committed_repo(path, files):
    """A git repository at ``path`` with ``files`` (name -> text) in its
    one commit; returns ``git(*args, cwd=path)``, which runs git there and
    returns its output."""
    import subprocess

    def git(*args, cwd=path):
        return subprocess.run(['git', *args], cwd=cwd, check=True,
                              capture_output=True, text=True).stdout

    path.mkdir(exist_ok=True)
    git('init', '-q')
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git('add', '.')
    git('-c', 'user.email=a@b', '-c', 'user.name=a', 'commit', '-qm', 'x')
    return git


def test_git_info_names_the_modified_files(tmp_path):
    from clst_mmseg.benchmark.provenance import git_info

    _committed_repo(tmp_path, {'README.md': 'a', 'results/r.json': 'a'})
    clean = git_info(str(tmp_path), exclude=str(tmp_path / 'results'))
    assert len(clean['revision']) == 40
    assert clean['dirty'] is False and clean['dirty_paths'] == []
    (tmp_path / 'results/r.json').write_text('b')  # excluded
    assert git_info(str(tmp_path), exclude=str(tmp_path / 'results'))[
        'dirty'] is False
    (tmp_path / 'README.md').write_text('b')
    info = git_info(str(tmp_path), exclude=str(tmp_path / 'results'))
    assert info['dirty'] is True and info['dirty_paths'] == ['README.md']


def test_dirty_tree_diff_is_kept_beside_the_record(tmp_path):
    """A dirty tree (a changed file, an untracked config) stores its patch
    under its SHA-256; the patch restores the tree on the revision."""
    import hashlib
    import subprocess

    from clst_mmseg.benchmark.provenance import git_info

    repo = tmp_path / 'repo'
    git = _committed_repo(repo, {'configs/a.py': 'lr = 0.1\n'})
    (repo / 'configs' / 'a.py').write_text('lr = 0.2\n')
    (repo / 'configs' / 'new.py').write_text("_base_ = ['a.py']\n")
    (repo / 'results').mkdir()
    (repo / 'results' / 'r.json').write_text('{}')  # excluded
    diffs = tmp_path / 'diffs'
    info = git_info(str(repo), exclude=str(repo / 'results'),
                    diff_dir=str(diffs))
    assert info['dirty'] is True
    assert info['dirty_paths'] == ['configs/a.py', 'configs/new.py']
    patch = (diffs / info['diff_file']).read_text()
    assert info['diff_file'] == info['diff_sha256'][:16] + '.diff'
    assert hashlib.sha256(patch.encode()).hexdigest() == info['diff_sha256']
    assert '-lr = 0.1' in patch and '+lr = 0.2' in patch
    assert "+_base_ = ['a.py']" in patch and 'results' not in patch
    # the patch turns a clean checkout of the revision into the dirty tree
    clone = tmp_path / 'clone'
    git('clone', '-q', str(repo), str(clone), cwd=tmp_path)
    subprocess.run(['git', 'apply'], input=patch, cwd=clone, check=True,
                   text=True)
    assert (clone / 'configs' / 'a.py').read_text() == 'lr = 0.2\n'
    assert (clone / 'configs' / 'new.py').read_text() == "_base_ = ['a.py']\n"
    # the same state gives the same patch file
    assert git_info(str(repo), exclude=str(repo / 'results'),
                    diff_dir=str(diffs))['diff_file'] == info['diff_file']
    assert len(list(diffs.iterdir())) == 1


def test_parallel_runs_of_one_process_write_one_dirty_tree_patch(
        tmp_path, monkeypatch):
    """Two runs of one benchmark process (threads: one pid) that start
    together on a dirty tree write the same patch; the second must not
    lose its temporary file to the first's rename (it did: both used
    ``.<name>.<pid>``, and the run's thread died before its record)."""
    import os

    from clst_mmseg.benchmark.provenance import git_info

    repo = tmp_path / 'repo'
    _committed_repo(repo, {'a.py': 'lr = 0.1\n'})
    (repo / 'a.py').write_text('lr = 0.2\n')
    diffs = tmp_path / 'diffs'
    real_replace = os.replace
    inner = []

    def replace(src, dst):
        # the other run writes and renames its patch between this run's
        # write and rename
        if not inner:
            inner.append(None)
            inner[0] = git_info(str(repo), diff_dir=str(diffs))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace)
    outer = git_info(str(repo), diff_dir=str(diffs))
    assert inner[0]['diff_file'] == outer['diff_file']
    assert [p.name for p in diffs.iterdir()] == [outer['diff_file']]
    assert (diffs / outer['diff_file']).stat().st_mode & 0o777 == 0o644
    assert '+lr = 0.2' in (diffs / outer['diff_file']).read_text()


def test_record_paths_are_relative_to_the_repository(tmp_path):
    import os
    import sys

    from clst_mmseg.benchmark.provenance import (portable_command,
                                                 repo_relative)
    from conftest import ROOT
    assert repo_relative(f'{ROOT}/configs/clst/mini.py', ROOT) == \
        'configs/clst/mini.py'
    home = os.path.expanduser('~')
    assert repo_relative(f'{home}/data/x', ROOT) == '~/data/x'
    cmd = portable_command([sys.executable, f'{ROOT}/tools/train.py',
                            f'{ROOT}/configs/clst/mini.py', '--cfg-options',
                            'a=1'], ROOT)
    assert cmd == ['python', 'tools/train.py', 'configs/clst/mini.py',
                   '--cfg-options', 'a=1']


def test_synthia_scoring_column_and_note():
    """Rows scored differently (a 16-class model against 19-class subset
    means) get a Scoring column and a note; one convention: a note only."""
    recs = []
    for rec, scoring in ((_rec('clst', 0, 50, 58, 90, 1), 'subset19'),
                         (_rec('source_only', 0, 30, 35, 80, 1), 'subset19'),
                         (_rec('self_training', 0, 45, 50, 85, 5),
                          'train16')):
        recs.append(dict(rec, resolved_config=dict(synthia_scoring=scoring)))
    board = leaderboard(records_frame(recs), 'synthia2cs', METHODS)
    assert dict(zip(board['method'], board['synthia_scoring'])) == dict(
        clst='subset19', source_only='subset19', self_training='train16')
    lines = markdown('S', board, ['mIoU16'], [], [], []).splitlines()
    header = next(ln for ln in lines if ln.startswith('| Method'))
    assert '| Scoring |' in header
    assert '| Self-training | 1 | 45.0 | train16 | 4000 |' in ' '.join(
        lines).replace('  ', ' ')
    note = next(ln for ln in lines if ln.startswith('SYNTHIA scoring'))
    assert 'column Scoring' in note and 'subset19: a 19-class model' in \
        note and 'train16: a 16-class model' in note
    one = leaderboard(records_frame(recs[:2]), 'synthia2cs', METHODS)
    lines = markdown('S', one, ['mIoU16'], [], [], []).splitlines()
    assert '| Scoring |' not in '\n'.join(lines)
    assert any(ln.startswith('SYNTHIA scoring (every row): subset19')
               for ln in lines)
    gta = leaderboard(records_frame(RECORDS), 'synthia2cs', METHODS)
    assert not any(ln.startswith('SYNTHIA scoring') for ln in markdown(
        'S', gta, ['mIoU16'], [], [], []).splitlines())
