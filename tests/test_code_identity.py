"""The code in a run's identity: which files the fingerprint covers, that a
changed byte changes it, the hook that writes it, the records that keep
it, and the benchmark planning a finished run whose code changed since as
stale (trained again, or kept and marked with --keep-stale); and that
nothing below the benchmark layer imports it."""
import ast
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import types

import mmengine
import pytest

from clst_mmseg import code_fingerprint as cf
from clst_mmseg.benchmark.cli import main
from clst_mmseg.benchmark.identity import code_notes, stale_reason
from clst_mmseg.benchmark.input_files import input_files
from clst_mmseg.benchmark.schema import record_problem
from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.engine.hooks import CodeFingerprintHook
from conftest import ROOT
from test_benchmark_fakes import calls, make_suite, valid_record

PKG = osp.join(ROOT, 'clst_mmseg')


def _module(path):
    return types.SimpleNamespace(__file__=path)


def _write(path, text):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


# the fingerprint --------------------------------------------------------


def test_only_project_files_count(tmp_path):
    elsewhere = _write(tmp_path / 'other' / 'util.py', 'x = 1\n')
    modules = {
        'clst_mmseg.datasets.class_stats':
        _module(osp.join(PKG, 'datasets', 'class_stats.py')),
        'clst_mmseg.benchmark.store':
        _module(osp.join(PKG, 'benchmark', 'store.py')),
        'json': json,  # the standard library
        'mmengine': mmengine,  # site-packages
        '__main__': _module(osp.join(ROOT, 'tools', 'train.py')),
        'util': _module(elsewhere),  # imported, but no custom import's
        'builtin': types.SimpleNamespace(),  # no __file__
        'failed': None,
    }
    # mmengine named in custom_imports is still an installed library
    files = cf.imported_files(dict(imports=['mmengine']), modules)
    names = [cf.display_path(p) for p in files]
    assert names == sorted(names)
    assert [n for n in names if n.endswith('.py')] == [
        'clst_mmseg/datasets/class_stats.py']
    # and the data files beside it (label maps, class subsets)
    assert {'clst_mmseg/datasets/class_subsets.csv',
            'clst_mmseg/datasets/synthia_label_map.csv'} <= set(names)
    assert all(n.startswith('clst_mmseg/datasets/') and n.endswith(
        cf.DATA_SUFFIXES + ('.py', )) for n in names)


def test_custom_import_modules_and_their_folder_count(tmp_path):
    method = _write(tmp_path / 'my_method' / 'fda_method.py', 'a = 1\n')
    helper = _write(tmp_path / 'my_method' / 'fda_utils.py', 'b = 2\n')
    package = _write(tmp_path / 'pkg' / 'mine' / '__init__.py', '')
    sub = _write(tmp_path / 'pkg' / 'mine' / 'sub' / 'part.py', 'c = 3\n')
    other = _write(tmp_path / 'other' / 'util.py', 'x = 1\n')
    modules = {'fda_method': _module(method), 'fda_utils': _module(helper),
               'mine': _module(package), 'mine.sub.part': _module(sub),
               'util': _module(other)}
    files = cf.imported_files(
        dict(imports=['fda_method', 'mine', 'not_imported']), modules)
    assert files == sorted([method, helper, package, sub])
    # outside the repository and the home folder: absolute names
    code = cf.collect(['fda_method'], modules=modules)
    assert list(code['files']) == sorted([method, helper])
    assert cf.resolve_path(method) == method


def test_the_training_process_fingerprint_covers_the_package_only():
    code = cf.collect()  # this process: clst_mmseg registered by conftest
    names = list(code['files'])
    assert names == sorted(names)  # stable order
    assert 'clst_mmseg/models/segmentors/clst.py' in names
    assert 'clst_mmseg/code_fingerprint.py' in names
    assert not [n for n in names if n.startswith('clst_mmseg/benchmark/')]
    assert all(n.startswith('clst_mmseg/') for n in names)
    digest = cf.file_sha256(osp.join(PKG, 'models', 'segmentors', 'clst.py'))
    assert code['files']['clst_mmseg/models/segmentors/clst.py'] == digest
    assert cf.changed_files(code) == []


def test_combined_hash_is_stable_and_a_changed_byte_changes_it(tmp_path):
    path = _write(tmp_path / 'm' / 'method.py', 'weight = 0.1\n')
    modules = {'method': _module(path)}
    code = cf.collect('method', modules=modules)
    again = cf.collect(['method'], modules=dict(reversed(modules.items())))
    assert code == again
    files = dict(code['files'], **{'z.py': '0' * 64, 'a.py': '1' * 64})
    shuffled = dict(reversed(list(files.items())))
    assert cf.combined_sha256(files) == cf.combined_sha256(shuffled)
    assert cf.fingerprint_problem(code) is None

    _write(path, 'weight = 0.2\n')  # one byte
    assert cf.changed_files(code) == [path]
    assert cf.collect('method', modules=modules)['sha256'] != code['sha256']
    # a file hashed earlier in the process keeps its hash (the imported
    # content), even if edited since
    kept = cf.collect('method', known=code['files'], modules=modules)
    assert kept == code
    os.remove(path)  # imported then, gone now: changed
    assert cf.changed_files(code) == [path]


def test_fingerprint_problems():
    files = {'clst_mmseg/x.py': 'a' * 64}
    good = dict(sha256=cf.combined_sha256(files), files=files)
    assert cf.fingerprint_problem(good) is None
    assert 'combined hash' in cf.fingerprint_problem(
        dict(good, sha256='b' * 64))
    assert 'not a SHA-256' in cf.fingerprint_problem(
        dict(good, files={'x.py': 'XYZ'}))
    assert cf.fingerprint_problem([]) is not None


def test_hook_writes_at_start_and_keeps_what_was_imported(tmp_path):
    path = _write(tmp_path / 'ext' / 'my_ext.py', 'k = 1\n')
    name = 'my_ext_for_hook_test'
    sys.modules[name] = _module(path)
    try:
        runner = types.SimpleNamespace(
            cfg=mmengine.Config(dict(custom_imports=dict(imports=[name]))),
            rank=0, work_dir=str(tmp_path / 'work'))
        hook = CodeFingerprintHook()
        hook.before_train(runner)
        first = cf.read_fingerprint(runner.work_dir)
        assert first['files'][path] == cf.file_sha256(path)
        assert 'clst_mmseg/engine/hooks/code_fingerprint_hook.py' in \
            first['files']
        _write(path, 'k = 2\n')  # edited while the run trains
        hook.after_train(runner)
        assert cf.read_fingerprint(runner.work_dir) == first
        # rank 1 writes nothing
        other = types.SimpleNamespace(cfg=runner.cfg, rank=1,
                                      work_dir=str(tmp_path / 'rank1'))
        CodeFingerprintHook().before_train(other)
        assert not osp.exists(other.work_dir)
    finally:
        del sys.modules[name]


# records ----------------------------------------------------------------


def test_records_keep_and_check_the_fingerprint():
    files = {'clst_mmseg/a.py': 'a' * 64}
    code = dict(sha256=cf.combined_sha256(files), files=files)
    assert record_problem(valid_record(code=code)) is None
    assert record_problem(valid_record(code=None)) is None  # none written
    rec = valid_record()
    del rec['code']  # written before records had one: still valid
    assert record_problem(rec) is None
    assert record_problem(valid_record(code=dict(code, sha256='b' * 64))) \
        == 'code: sha256 is not the combined hash of its files'
    assert 'code.files' in record_problem(
        valid_record(code=dict(code, files={'x.py': 3})))


def test_stale_reason():
    current = cf.collect()
    assert stale_reason(valid_record(code=current)) is None
    assert stale_reason(valid_record(code=None)) == 'no code fingerprint'
    files = dict(current['files'])
    files['clst_mmseg/models/segmentors/clst.py'] = '0' * 64
    files['clst_mmseg/gone.py'] = '1' * 64
    old = dict(sha256=cf.combined_sha256(files), files=files)
    assert stale_reason(valid_record(code=old)) == (
        'code changed: clst_mmseg/gone.py, '
        'clst_mmseg/models/segmentors/clst.py')


def test_code_notes_name_stale_runs_and_mixed_fingerprints():
    current = cf.collect()
    files = dict(current['files'])
    files['clst_mmseg/models/segmentors/clst.py'] = '0' * 64
    old = dict(sha256=cf.combined_sha256(files), files=files)
    records = [valid_record('clst', seed=0, code=current),
               valid_record('clst', seed=1, code=old),
               valid_record('source_only', seed=0, code=current),
               valid_record('oracle', seed=0, code=None),
               valid_record('dacs', seed=0, code=None, status='failed')]
    marked, lines = code_notes(records, dict(clst='CLST'))
    assert marked == {'clst', 'oracle'}
    assert lines == [
        '§ Trained by code that has changed since (kept with --keep-stale; '
        'tools/benchmark.py without it trains them again): clst/s1 (code '
        'changed: clst_mmseg/models/segmentors/clst.py); oracle/s0 (no code '
        'fingerprint).',
        '§ The seeds of a row ran different code: CLST: 2 code fingerprints '
        f'({min(current["sha256"], old["sha256"])[:10]}: '
        f'{"s0" if current["sha256"] < old["sha256"] else "s1"}; '
        f'{max(current["sha256"], old["sha256"])[:10]}: '
        f'{"s1" if current["sha256"] < old["sha256"] else "s0"}), '
        'differing in clst_mmseg/models/segmentors/clst.py.']
    assert code_notes(records[:1] + records[2:3], {})[1] == [
        'Every run was trained by the code as it is now (the fingerprint of '
        'the files it imported matches).']


def test_inputs_record_data_and_weights_sizes(tmp_path):
    data = tmp_path / 'data' / 'cityscapes'
    _write(data / 'a.png', 'xx')
    _write(data / 'sub' / 'b.png', 'yyy')
    os.symlink(data / 'sub', data / 'link')  # counted once
    weights = _write(tmp_path / 'w.pth', '12345')
    resolved = dict(
        model=dict(segmentor=dict(backbone=dict(init_cfg=dict(
            type='Pretrained', checkpoint=weights)))),
        load_from='https://example.org/x.pth',
        train_dataloader=dict(dataset=dict(
            source=dict(data_root=str(tmp_path / 'missing')),
            target=dict(data_root=str(data)))),
        val_dataloader=dict(dataset=dict(data_root=str(data))),
        test_dataloader={'__tuple__': []})
    out = input_files(resolved)
    assert out['data'] == [
        dict(path=str(tmp_path / 'missing'),
             keys=['train_dataloader.dataset.source.data_root'],
             files=None, bytes=None, truncated=False),
        dict(path=str(data), keys=['train_dataloader.dataset.target.data_root',
                                   'val_dataloader.dataset.data_root'],
             files=2, bytes=5, truncated=False)]
    assert out['weights'] == [
        dict(key='model.segmentor.backbone.init_cfg', path=weights, bytes=5,
             local=True),
        dict(key='load_from', path='https://example.org/x.pth', bytes=None,
             local=False)]


# planning and tables (fake tools) ---------------------------------------


@pytest.fixture
def fake_calls(tmp_path, monkeypatch):
    path = str(tmp_path / 'calls.txt')
    monkeypatch.setenv('FAKE_CALLS', path)
    return path


def _trains(path):
    return [c for c in calls(path) if c[1] == 'train']


def _method_of_my_own(root):
    """configs/mine/mini.py importing my_method.py from beside it."""
    config = osp.join(root, 'configs', 'mine', 'mini.py')
    module = _write(osp.join(root, 'configs', 'mine', 'my_method.py'),
                    'WEIGHT = 0.1\n')
    _write(config, "fake = {'mode': 'ok', 'base': 50.0}\n"
           'train_cfg = dict(max_iters=4)\nrandomness = dict(seed=0)\n'
           "custom_imports = dict(imports=['my_method'])\n"
           "val_evaluator = dict(type='SubsetIoUMetric', class_subsets="
           "dict(mIoU16=['road', 'pole', 'car', 'sky']))\n"
           'test_evaluator = val_evaluator\n')
    return module


def _records(root):
    return {(r['method'], r['seed']): r for r in
            ResultsStore(str(root / 'results')).records('mini')}


def _plan_lines(out, method):
    return [ln for ln in out.splitlines() if f'mini/{method}/s' in ln]


def test_changed_code_is_planned_stale_then_trained_again(
        tmp_path, fake_calls, capsys):
    module = _method_of_my_own(str(tmp_path))
    suite = make_suite(str(tmp_path), methods=('source_only', 'mine'))
    assert main([suite]) == 0
    before = _records(tmp_path)
    code = before[('mine', 0)]['code']
    assert module in code['files']  # the method of one's own
    assert 'clst_mmseg/code_fingerprint.py' in code['files']
    assert module not in before[('source_only', 0)]['code']['files']
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    assert all(ln.startswith('done') for ln in
               _plan_lines(capsys.readouterr().out, 'mine'))

    _write(module, 'WEIGHT = 0.2\n')
    assert main([suite, '--dry-run']) == 0
    out = capsys.readouterr().out
    lines = _plan_lines(out, 'mine')
    assert len(lines) == 2 and all(
        ln.startswith('stale') and ln.endswith(f'(code changed: {module})')
        for ln in lines)
    assert all(ln.startswith('done') for ln in
               _plan_lines(out, 'source_only'))
    assert '2 done, 2 to execute, 0 running elsewhere, 2 of them stale' in out

    # --keep-stale: nothing trains, the table marks the row
    assert main([suite, '--dry-run', '--keep-stale']) == 0
    lines = _plan_lines(capsys.readouterr().out, 'mine')
    assert all(ln.startswith('done, stale') and ln.endswith(
        f'(code changed: {module}; kept (--keep-stale))') for ln in lines)
    assert main([suite, '--keep-stale']) == 0
    assert len(_trains(fake_calls)) == 4
    md = (tmp_path / 'results' / 'mini' / 'leaderboard.md').read_text()
    assert '| mine § | 2 |' in md and '| *Source only* | 2 |' in md
    assert ('§ Trained by code that has changed since (kept with '
            f'--keep-stale; tools/benchmark.py without it trains them '
            f'again): mine/s0 (code changed: {module}); mine/s1 (code '
            f'changed: {module}).') in md
    assert '\\S{}' in (tmp_path / 'results' / 'mini' /
                       'leaderboard.tex').read_text()

    # by default: trained again, from scratch, a new count of compute
    assert main([suite]) == 0
    trains = _trains(fake_calls)[4:]
    assert sorted(t[0] for t in trains) == sorted(
        r['run_id'] for (m, _), r in before.items() if m == 'mine')
    assert all(t[2] == 'resume=0' for t in trains)
    after = _records(tmp_path)
    rec = after[('mine', 0)]
    assert rec['code']['files'][module] == cf.file_sha256(module)
    assert rec['code']['sha256'] != code['sha256']
    assert rec['attempts'][-1]['code_sha256'] == code['sha256']
    assert rec['attempts'][-1]['status'] == 'finished'
    assert rec['compute_time_s'] == rec['wall_time_s']
    assert after[('source_only', 0)] == before[('source_only', 0)]
    ledger = ResultsStore(str(tmp_path / 'results')).attempt_log(
        'mini', rec['run_id'])
    starts = [e for e in ledger if e['event'] == 'start']
    assert 'stale' not in starts[0]
    assert starts[1]['stale'] == f'code changed: {module}'
    assert starts[1]['new_count'] is True
    md = (tmp_path / 'results' / 'mini' / 'leaderboard.md').read_text()
    assert '§' not in md and 'Every run was trained by the code as it is ' \
        'now' in md


def test_record_without_fingerprint_is_stale(tmp_path, fake_calls, capsys):
    suite = make_suite(str(tmp_path), methods=('clst', ), seeds=(0, ))
    assert main([suite]) == 0
    store = ResultsStore(str(tmp_path / 'results'))
    (rec, ) = store.records('mini')
    del rec['code']  # as records written before this change
    store.write(rec)
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    (line, ) = _plan_lines(capsys.readouterr().out, 'clst')
    assert line.startswith('stale') and line.endswith(
        '(no code fingerprint)')
    assert main([suite, '--report-only']) == 0
    md = (tmp_path / 'results' / 'mini' / 'leaderboard.md').read_text()
    assert '| CLST § | 1 |' in md and 'clst/s0 (no code fingerprint)' in md
    assert main([suite]) == 0
    assert len(_trains(fake_calls)) == 2
    assert store.records('mini')[0]['code'] is not None


def test_a_run_resumes_only_with_the_code_of_its_checkpoint(
        tmp_path, fake_calls, capsys):
    module = _method_of_my_own(str(tmp_path))
    config = tmp_path / 'configs' / 'mine' / 'mini.py'
    config.write_text(config.read_text().replace("'ok'", "'crash'"))
    suite = make_suite(str(tmp_path), methods=('mine', ), seeds=(0, ))
    assert main([suite]) == 1  # failed at iteration 2, after a checkpoint
    capsys.readouterr()
    assert main([suite, '--dry-run']) == 0
    (line, ) = _plan_lines(capsys.readouterr().out, 'mine')
    assert line.startswith('resume')
    _write(module, 'WEIGHT = 0.2\n')
    assert main([suite, '--dry-run']) == 0
    (line, ) = _plan_lines(capsys.readouterr().out, 'mine')
    assert line.startswith('retry') and line.endswith(
        f'; its work dir is from other code (changed: {module}): from '
        'scratch)')
    assert main([suite]) == 1
    assert [t[2] for t in _trains(fake_calls)] == ['resume=0', 'resume=0']


# structure --------------------------------------------------------------

#: Entry points of the training and evaluation processes (other tools,
#: e.g. tools/benchmark.py, sit on top and may use the benchmark layer).
TRAINING_TOOLS = ('tools/train.py', 'tools/test.py')


def _imports(path, package):
    """Absolute module names a file imports (relative imports resolved
    against ``package``) and module names passed to import_module."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')[:len(package.split('.')) -
                                           node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            yield base
            yield from (f'{base}.{a.name}' for a in node.names)
        elif isinstance(node, ast.Call) and getattr(
                node.func, 'attr', getattr(node.func, 'id', '')) in (
                    'import_module', '__import__') and node.args and \
                isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value)


def test_nothing_below_the_benchmark_layer_imports_it():
    offenders = []
    files = [osp.join(ROOT, t) for t in TRAINING_TOOLS]
    for folder, _, names in os.walk(PKG):
        if _inside_benchmark(folder):
            continue
        files += [osp.join(folder, n) for n in names if n.endswith('.py')]
    for path in files:
        rel = osp.relpath(path, ROOT)
        package = osp.splitext(rel)[0].replace(os.sep, '.')
        if not rel.endswith('__init__.py'):
            package = package.rsplit('.', 1)[0]
        else:
            package = package[:-len('.__init__')]
        for name in _imports(path, package):
            if name == 'clst_mmseg.benchmark' or name.startswith(
                    'clst_mmseg.benchmark.'):
                offenders.append(f'{rel}: {name}')
    assert offenders == []
    assert len(files) > 80  # the scan saw the package


def _inside_benchmark(folder):
    return cf._inside(folder, osp.join(PKG, 'benchmark'))


def test_the_scan_sees_relative_and_dynamic_imports(tmp_path):
    path = _write(tmp_path / 'x.py', 'from ..benchmark import store\n'
                  'from . import benchmark\n'
                  "importlib.import_module('clst_mmseg.benchmark.cli')\n")
    assert set(_imports(path, 'clst_mmseg.engine')) >= {
        'clst_mmseg.benchmark', 'clst_mmseg.benchmark.store',
        'clst_mmseg.engine.benchmark', 'clst_mmseg.benchmark.cli'}
    assert 'clst_mmseg.benchmark' in set(_imports(path, 'clst_mmseg'))


# end to end: a checkout of the code, the real tools ---------------------


@pytest.mark.slow
def test_editing_a_method_in_a_checkout_makes_its_run_stale(
        tmp_path, mini_data_dir):
    from test_benchmark_e2e import FAST
    checkout = tmp_path / 'checkout'
    for part in ('clst_mmseg', 'tools', 'configs'):
        shutil.copytree(osp.join(ROOT, part), checkout / part,
                        ignore=shutil.ignore_patterns('__pycache__'))
    ext = _write(tmp_path / 'ext' / 'my_ext.py', 'SCALE = 1\n')
    _write(checkout / 'configs' / 'source_only' / 'mini_ext.py',
           "_base_ = ['./mini.py']\ncustom_imports = dict(imports=["
           "'clst_mmseg.registration', 'my_ext'], "
           'allow_failed_imports=False)\n')
    suite = _write(tmp_path / 'suite.py', (
        "tasks = ['mini_ext']\nmethods = ['source_only']\nseeds = [0]\n"
        "device = 'cpu'\n"
        f"configs_root = {str(checkout / 'configs')!r}\n"
        f"results_dir = {str(tmp_path / 'results')!r}\n"
        f"work_dir = {str(tmp_path / 'work')!r}\n"
        f"overrides = {FAST!r}\n"))
    env = dict(os.environ, OMP_NUM_THREADS='1',
               CLST_MMSEG_DATA_DIR=mini_data_dir,
               PYTHONPATH=os.pathsep.join([str(checkout),
                                           osp.dirname(ext)]))

    def benchmark(*args):
        out = subprocess.run(
            [sys.executable, 'tools/benchmark.py', suite, *args],
            cwd=checkout, env=env, text=True, capture_output=True,
            timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return out.stdout

    def record():
        (rec, ) = ResultsStore(str(tmp_path / 'results')).records(
            'mini_ext')
        assert rec['status'] == 'finished', rec['reason']
        return rec

    def plan():
        (line, ) = [ln for ln in benchmark('--dry-run').splitlines()
                    if 'mini_ext/source_only/s0' in ln]
        return line

    method = 'clst_mmseg/models/segmentors/uda_segmentor.py'
    benchmark()
    first = record()
    files = first['code']['files']
    assert method in files and ext in files
    assert 'clst_mmseg/datasets/class_subsets.csv' in files
    assert not [n for n in files if n.startswith(('clst_mmseg/benchmark/',
                                                  'tools/'))]
    assert all(digest == cf.file_sha256(
        name if osp.isabs(name) else checkout / name)
        for name, digest in files.items())
    assert first['inputs'] == dict(data=[], weights=[])  # generated data
    assert plan().startswith('done')

    with open(checkout / method, 'a') as f:
        f.write('# edited\n')
    line = plan()
    assert line.startswith('stale') and line.endswith(
        f'(code changed: {method})')

    benchmark()  # trained again, from scratch
    second = record()
    assert second['code']['files'][method] == cf.file_sha256(
        checkout / method)
    assert second['attempts'][-1]['code_sha256'] == first['code']['sha256']
    assert second['resumed'] is False
    assert plan().startswith('done')

    _write(ext, 'SCALE = 2\n')  # the module of one's own
    assert plan().endswith(f'(code changed: {ext})')
