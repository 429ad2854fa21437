"""CLST's training curves: the records keep the method's training scalars
(train_curve) and tools/plot_clst_contrastive.py draws the contrastive
term's loss, similarities and per-class centroid distances from them."""
import importlib.util
import os.path as osp

import pytest

from clst_mmseg.benchmark import workdir as wd
from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import load_suite
from conftest import ROOT
from test_benchmark_fakes import make_suite, valid_record

spec = importlib.util.spec_from_file_location(
    'plot_clst_contrastive',
    osp.join(ROOT, 'tools', 'plot_clst_contrastive.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_train_curve_keeps_method_scalars_thinned_and_resumed():
    entries = [dict(iter=i, loss=1.0, lr=0.1, **{'cl.nce': i / 10,
                                                  'st.kept': 0.5})
               for i in range(10, 510, 10)]
    entries.insert(3, dict(mIoU=40.0, step=40))  # validation: not a train row
    entries.append(dict(iter=500, **{'cl.nce': 99.0}))  # resumed: last wins
    entries.append(dict(iter=510, loss=float('nan')))  # nothing to keep
    curve = wd.train_curve(entries)
    assert [p['iter'] for p in curve] == list(range(10, 510, 10))
    assert curve[0] == {'iter': 10, 'cl.nce': 1.0, 'st.kept': 0.5}
    assert curve[-1] == {'iter': 500, 'cl.nce': 99.0}
    thin = wd.train_curve(entries, max_points=5)
    assert [p['iter'] for p in thin] == [10, 130, 250, 380, 500]
    assert wd.train_curve(entries, prefixes=('ens.', )) == []


def _curve(seed, shift):
    return [dict(iter=i, **{'cl.weight': 0.0, 'cl.loss': 0.0})
            for i in (10, 20)] + [
        {'iter': i, 'cl.loss': 0.1 * (2 - i / 50), 'cl.nce': 2 - i / 50,
         'cl.pos_sim': 0.5 + i / 200 + shift, 'cl.neg_sim': 0.1,
         'cl.dist.road': 0.4 - i / 500 + seed / 100,
         'cl.dist.traffic_light': 0.6 - i / 400}
        for i in (30, 40, 50)
    ]


def test_contrastive_plots_from_a_suite_s_records(tmp_path, capsys):
    path = make_suite(str(tmp_path), methods=('source_only', 'clst'),
                      seeds=(0, 1))
    suite = load_suite(path)
    store = ResultsStore(suite.results_dir)
    for run in suite.runs:
        store.write(valid_record(
            run.method, task=run.task, seed=run.seed,
            resolved_config=run.resolved_config,
            train_curve=(_curve(run.seed, 0.1) if run.method == 'clst' else
                         [])))
    records = [store.read(r.task, r.run_id) for r in suite.runs]
    frame = tool.contrastive_frame(records, {'clst': 'CLST',
                                             'source_only': 'Source only'})
    assert set(frame['Method']) == {'CLST'}  # source-only logged no term
    assert sorted(frame['iter'].unique()) == [30, 40, 50]  # after warm-up
    mean = frame[(frame['key'] == 'dist_mean') & (frame['iter'] == 30)
                 & (frame['seed'] == 0)]['value']
    assert mean.tolist() == pytest.approx([(0.4 - 0.06 + 0.6 - 0.075) / 2])
    assert tool.main([path, '--out', str(tmp_path / 'out' / 'abl')]) == 0
    written = capsys.readouterr().out.split()
    files = [f'abl_{kind}.{ext}' for kind in ('contrastive',
                                              'centroid_distance')
             for ext in ('png', 'svg')]
    assert [osp.basename(p) for p in written if p != 'written:'] == files
    first = {f: (tmp_path / 'out' / f).read_bytes() for f in files}
    tool.main([path, '--out', str(tmp_path / 'out' / 'abl')])
    assert all((tmp_path / 'out' / f).read_bytes() == first[f]
               for f in files)
    with pytest.raises(SystemExit, match='no finished run'):
        tool.main([path, '--results-dir', str(tmp_path / 'empty')])
