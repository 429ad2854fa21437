"""Suite files: expansion into runs, stable run ids, overrides, ablations,
filters, reference numbers, and bad suites failing before anything runs."""
import os
import os.path as osp

import pytest
from mmengine.config import Config

from clst_mmseg.benchmark.identity import config_hash, resolve_config
from clst_mmseg.benchmark.overrides import OverrideError, parse_cli, to_cli
from clst_mmseg.benchmark.references import load_references, lookup
from clst_mmseg.benchmark.suite import SuiteError, load_suite, select
from conftest import ROOT
from test_benchmark_fakes import make_config, make_suite


def test_default_and_paper_suites_load():
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        mini = load_suite('configs/benchmarks/mini.py')
        paper = load_suite('configs/benchmarks/paper.py')
    finally:
        os.chdir(cwd)
    assert mini.tasks == ['mini'] and mini.seeds == [0, 1, 2]
    assert mini.options['device'] == 'cpu'
    assert [r.label for r in mini.runs[:3]] == [
        'mini/source_only/s0', 'mini/source_only/s1', 'mini/source_only/s2'
    ]
    assert {r.method for r in mini.runs} >= {'source_only', 'oracle'}
    assert paper.tasks == ['gta2cs', 'synthia2cs']
    assert len(paper.runs) == 2 * len(paper.methods) * 3
    for run in mini.runs + paper.runs:
        assert run.run_id == (f'{run.task}-{run.method}-'
                              f'{run.config_hash[:10]}-s{run.seed}')
        schedule = Config.fromfile(
            f'{ROOT}/configs/_base_/schedules/'
            f"{'mini' if run.task == 'mini' else 'uda_40k'}.py")
        assert run.max_iters == schedule.train_cfg.max_iters
        assert run.cfg_options[-1] == f'randomness.seed={run.seed}'
    # the seeds of a method share one config hash
    hashes = {(r.task, r.method): set() for r in mini.runs}
    for r in mini.runs:
        hashes[(r.task, r.method)].add(r.config_hash)
    assert all(len(h) == 1 for h in hashes.values())


def test_run_ids_are_stable(tmp_path):
    suite = make_suite(str(tmp_path))
    a = load_suite(suite)
    b = load_suite(suite, results_dir=str(tmp_path / 'elsewhere'),
                   work_dir=str(tmp_path / 'w2'))
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    c = load_suite(suite, extra_overrides={'train_cfg.max_iters': 6})
    assert {r.config_hash for r in c.runs}.isdisjoint(
        {r.config_hash for r in a.runs})
    assert all('train_cfg.max_iters=6' in r.cfg_options for r in c.runs)
    assert a.runs[0].work_dir == osp.join(str(tmp_path), 'work', 'mini',
                                          a.runs[0].run_id)
    # the hash ignores work_dir, launcher and the seed, not other keys
    cfg = str(tmp_path / 'configs' / 'clst' / 'mini.py')
    h = config_hash(resolve_config(cfg))
    assert h == config_hash(resolve_config(cfg, {
        'work_dir': '/x', 'launcher': 'pytorch', 'randomness.seed': 7}))
    assert h != config_hash(resolve_config(cfg, {'+randomness.foo': 1}))
    assert h != config_hash(resolve_config(cfg, {'train_cfg.max_iters': (4,)}))


def test_real_config_hash_matches_what_train_sees():
    """The hash of a real config equals the hash of the config
    tools/train.py trains (its loader, with the imports it does), also when
    the overrides change the schedule's length (the ends follow it in
    both)."""
    from clst_mmseg.apis import load_config
    path = osp.join(ROOT, 'configs', 'source_only', 'mini.py')
    for options in ({'train_cfg.max_iters': 4},
                    {'train_cfg.max_iters': 4, 'param_scheduler.0.end': 9}):
        ours = resolve_config(path, options)
        trained = load_config(path, parse_cli(to_cli(options))).to_dict()
        assert config_hash(ours) == config_hash(trained)
        assert ours['param_scheduler'][0]['end'] == \
            options.get('param_scheduler.0.end', 4)


def test_overrides_round_trip():
    items = to_cli({'a': 4, 'b': {'c': 1.5, 'd': None}, 'e': [1, 2],
                    'f': (64, 64), 'g': True, 'h': 'SGD', 'i': 1e-05})
    assert items == ['a=4', 'b.c=1.5', 'b.d=None', 'e=[1,2]', 'f=(64,64)',
                     'g=True', 'h=SGD', 'i=1e-05']
    assert parse_cli(items) == {'a': 4, 'b.c': 1.5, 'b.d': None,
                                'e': [1, 2], 'f': (64, 64), 'g': True,
                                'h': 'SGD', 'i': 1e-05}
    with pytest.raises(OverrideError, match="it would arrive as 4"):
        to_cli({'name': '4'})
    with pytest.raises(OverrideError, match='arrive as'):
        to_cli({'name': 'a b'})
    with pytest.raises(OverrideError, match='a dict value cannot be passed'):
        to_cli({'param_scheduler': [dict(type='PolyLR')]})


def _err(tmp_path, body, name='bad.py', **kw):
    path = make_suite(str(tmp_path), name=name, extra=body, **kw)
    with pytest.raises(SuiteError) as e:
        load_suite(path)
    msg = str(e.value)
    assert msg.startswith(f'suite {path}: ') and '\n' not in msg
    return msg


@pytest.mark.parametrize('body, expected', [
    ("methods = ['source_only', 'advent']\n",
     "unknown method 'advent' (no folder"),
    ("tasks = ['gta2cs']\n", "unknown task 'gta2cs' (no"),
    ("methods = ['clst', 'clst']\n", "duplicate method 'clst' in methods"),
    ("seeds = [0, 1, 0]\n", "duplicate seed 0 in seeds"),
    ("tasks = ['mini', 'mini']\n", "duplicate task 'mini' in tasks"),
    ("seed = [0]\n", "unknown key(s) ['seed']"),
    ("seeds = ['0']\n", "seeds: expected int entries, got '0'"),
    ("overrides = {'optimizer.type': '4'}\n", 'overrides: override'),
    ("methods = [dict(name='clst', reference='nope')]\n",
     "reference key 'nope' is not in"),
    ("comparisons = [('clst', 'dacs')]\n",
     "comparisons: 'dacs' is not a method"),
    ("checkpoint = 'best_ever'\n", "checkpoint must be 'last' or 'best'"),
    ("ablations = dict(method='clst', dir='nowhere', task='mini')\n",
     'ablations: no such folder nowhere'),
    ("task_overrides = dict(gta2cs={})\n", "task_overrides: 'gta2cs'"),
    # a misspelt method, task or key says what was meant
    ("methods = ['source_only', 'clts']\n",
     "known methods: ['clst', 'source_only']); did you mean 'clst'?"),
    ("tasks = ['mnii']\n", "known tasks: ['mini']); did you mean 'mini'?"),
    ("seed = [0]\n", "; did you mean 'seeds'?"),
    ("method_overide = {}\n", "did you mean 'method_overrides'?"),
    ("method_overrides = dict(clts={})\n",
     "method_overrides: 'clts' is not a method of the suite ['clst', "
     "'source_only']; did you mean 'clst'?"),
    ("comparisons = [('clts', 'source_only')]\n", "did you mean 'clst'?"),
    ("task_overrides = dict(mnii={})\n", "did you mean 'mini'?"),
    ("methods = [dict(name='clst', titel='CLST')]\n",
     "unknown key(s) ['titel'] (allowed: name, reference, title, config); "
     "did you mean 'title'?"),
])
def test_bad_suites_fail_with_one_line(tmp_path, body, expected):
    assert expected in _err(tmp_path, body)


def test_missing_config_and_missing_keys(tmp_path):
    make_config(str(tmp_path), 'clst', 'other')  # 'other' is a known task
    msg = _err(tmp_path, "tasks = ['mini', 'other']\n")
    assert 'missing config' in msg and "'source_only' on task 'other'" in msg
    path = tmp_path / 'nokeys.py'
    path.write_text('tasks = ["mini"]\n')
    with pytest.raises(SuiteError, match="missing required key 'methods'"):
        load_suite(str(path))
    with pytest.raises(SuiteError, match='suite file not found'):
        load_suite(str(tmp_path / 'nope.py'))
    broken = tmp_path / 'broken.py'
    broken.write_text('tasks = [\n')
    with pytest.raises(SuiteError, match='cannot read it'):
        load_suite(str(broken))


def test_config_that_does_not_load(tmp_path):
    root = str(tmp_path)
    make_suite(root)
    with open(osp.join(root, 'configs', 'clst', 'mini.py'), 'a') as f:
        f.write("_base_ = ['./missing.py']\n")
    msg = _err(tmp_path, '')
    assert 'clst/mini.py (with the suite overrides) does not load' in msg


def test_ablations_expand_into_rows(tmp_path):
    root = str(tmp_path)
    folder = tmp_path / 'configs' / 'clst' / 'ablations'
    folder.mkdir(parents=True)
    for name in ('no_contrast', 'no_ensemble'):
        (folder / f'{name}.py').write_text(
            "fake = dict(mode='ok')\ntrain_cfg = dict(max_iters=4)\n")
    path = make_suite(root, extra=(
        f"ablations = dict(method='clst', dir={str(folder)!r}, "
        "task='mini')\nreport_name = 'ablations'\n"), seeds=(0, ))
    suite = load_suite(path)
    assert [m.name for m in suite.methods] == [
        'source_only', 'clst', 'clst-no_contrast', 'clst-no_ensemble']
    assert suite.method('clst-no_contrast').title == 'CLST (no_contrast)'
    assert suite.method('clst-no_contrast').reference is None
    assert [r.label for r in suite.runs] == [
        'mini/source_only/s0', 'mini/clst/s0', 'mini/clst-no_contrast/s0',
        'mini/clst-no_ensemble/s0']
    assert suite.comparisons == [('clst', 'source_only'),
                                 ('clst-no_contrast', 'clst'),
                                 ('clst-no_ensemble', 'clst')]
    assert suite.report_name == 'ablations'


def test_select_only_and_skip(tmp_path):
    runs = load_suite(make_suite(str(tmp_path), seeds=(0, 1))).runs
    labels = lambda rs: [r.label for r in rs]  # noqa: E731
    assert labels(select(runs, ['clst'])) == ['mini/clst/s0', 'mini/clst/s1']
    assert labels(select(runs, skip=['*/s1'])) == [
        'mini/source_only/s0', 'mini/clst/s0']
    assert labels(select(runs, ['mini/source_only/*'], ['*s0'])) == [
        'mini/source_only/s1']
    assert labels(select(runs, [runs[3].run_id])) == ['mini/clst/s1']
    with pytest.raises(SuiteError, match="--skip 'x' matches no run"):
        select(runs, skip=['x'])


def test_reference_numbers():
    """Each published number with its variant: CBST is 45.2 (46.2 is
    CBST-SP), the CBST paper's ST is a global portion, ADVENT's 45.5 is a
    two-model ensemble (43.8: AdvEnt alone), DACS SYNTHIA has both class
    subsets."""
    refs = load_references()
    expected = [
        ('gta2cs', 'mIoU19', 'clst', 51.6),
        ('synthia2cs', 'mIoU16', 'clst', 49.8),
        ('synthia2cs', 'mIoU13', 'clst', 57.8),
        ('gta2cs', 'mIoU19', 'adaptsegnet', 42.4),
        ('synthia2cs', 'mIoU13', 'adaptsegnet', 46.7),
        ('gta2cs', 'mIoU19', 'advent_adv', 43.8),
        ('synthia2cs', 'mIoU16', 'advent_adv', 40.8),
        ('synthia2cs', 'mIoU13', 'advent_adv', 47.6),
        ('gta2cs', 'mIoU19', 'minent', 42.3),
        ('synthia2cs', 'mIoU16', 'minent', 38.1),
        ('synthia2cs', 'mIoU13', 'minent', 44.2),
        ('gta2cs', 'mIoU19', 'advent_minent_ensemble', 45.5),
        ('synthia2cs', 'mIoU16', 'advent_minent_ensemble', 41.2),
        ('synthia2cs', 'mIoU13', 'advent_minent_ensemble', 48.0),
        ('gta2cs', 'mIoU19', 'st_global', 41.5),
        ('synthia2cs', 'mIoU16', 'st_global', 32.2),
        ('gta2cs', 'mIoU19', 'cbst', 45.2),
        ('synthia2cs', 'mIoU16', 'cbst', 42.5),
        ('gta2cs', 'mIoU19', 'cbst_sp', 46.2),
        ('gta2cs', 'mIoU19', 'cbst_crst', 46.47),
        ('gta2cs', 'mIoU19', 'dacs', 52.14),
        ('gta2cs', 'mIoU19', 'dacs_release', 53.04),
        ('synthia2cs', 'mIoU16', 'dacs', 48.34),
        ('synthia2cs', 'mIoU13', 'dacs', 54.81),
        ('gta2cs', 'mIoU19', 'daformer', 68.3),
        ('synthia2cs', 'mIoU16', 'daformer', 60.9),
        ('gta2cs', 'mIoU19', 'mic_daformer', 70.6),
    ]
    assert len(refs) == len(expected)
    for task, metric, key, value in expected:
        hit = lookup(refs, task, metric, key)
        assert hit['value'] == value, (task, metric, key)
        assert 'arXiv:' in hit['source'] and hit['checked']
    cbst = lookup(refs, 'gta2cs', 'mIoU19', 'cbst')
    assert cbst['backbone'].startswith('ResNet-38')
    # CBST released with the CRST code runs DeepLabV2 ResNet-101
    assert lookup(refs, 'gta2cs', 'mIoU19', 'cbst_crst')['backbone'] == (
        'DeepLabV2 ResNet-101')
    assert 'spatial priors' in lookup(refs, 'gta2cs', 'mIoU19',
                                      'cbst_sp')['variant']
    assert 'global, class-agnostic portion' in lookup(
        refs, 'gta2cs', 'mIoU19', 'st_global')['variant']
    ens = lookup(refs, 'gta2cs', 'mIoU19', 'advent_minent_ensemble')
    assert 'separately trained' in ens['variant']
    # the released ensemble member is MinEnt with entropy ranking
    assert 'MinEnt+ER model' in ens['variant']
    assert 'gta2cityscapes_minent_ER.pth' in ens['selection_detail']
    # DACS's released run at its last iterate: a reference for the headline
    assert lookup(refs, 'gta2cs', 'mIoU19', 'dacs_release')[
        'checkpoint_selection'] == 'last'
    assert ens['tta'] == 'two-model ensemble'
    assert lookup(refs, 'gta2cs', 'mIoU19', 'advent_adv')[
        'checkpoint_selection'] == 'best_val'
    assert '512x1024' in lookup(refs, 'gta2cs', 'mIoU19',
                                'dacs')['eval_protocol']
    # no row under a method folder's name unless that folder's config runs
    # the variant: the fixed-threshold self-training and ADVENT's joint
    # training have none
    assert lookup(refs, 'gta2cs', 'mIoU19', 'self_training') is None
    assert lookup(refs, 'gta2cs', 'mIoU19', 'advent') is None
    assert lookup(refs, 'mini', 'mIoU', 'clst') is None


def test_reference_mapping_of_a_method(tmp_path):
    root = str(tmp_path)
    make_config(root, 'advent', 'mini_advent')
    path = make_suite(root, extra=(
        "methods = ['source_only', dict(name='advent_adv', "
        f"config={root!r} + '/configs/advent/{{task}}_advent.py', "
        "reference='advent_adv'), 'clst']\n"))
    suite = load_suite(path)
    assert suite.method('advent_adv').reference == 'advent_adv'
    run = next(r for r in suite.runs if r.method == 'advent_adv')
    assert run.config.endswith('configs/advent/mini_advent.py')
    assert suite.method('clst').reference == 'clst'  # same-name key
    assert suite.method('source_only').reference is None  # no such key


def test_bad_reference_file(tmp_path):
    bad = tmp_path / 'refs.csv'
    header = ('task,metric,key,method,variant,value,backbone,init,'
              'checkpoint_selection,selection_detail,eval_protocol,tta,'
              'source,checked\n')
    bad.write_text(header + 'gta2cs,mIoU19,clst,CLST,CLST,fifty,R101,x,'
                   'last,x,x,none,paper,yes\n')
    with pytest.raises(ValueError, match="line 2: value 'fifty' is not a"):
        load_references(str(bad))
    bad.write_text(header + 'gta2cs,mIoU19,clst,CLST,CLST,50,R101,x,'
                   'best,x,x,none,paper,yes\n')
    with pytest.raises(ValueError, match="line 2: checkpoint_selection "
                       "'best' is not one of"):
        load_references(str(bad))
    bad.write_text(header + 'gta2cs,mIoU19,clst,CLST,CLST,50,R101,x,'
                   'last,x,x,none,paper,\n')
    with pytest.raises(ValueError, match='line 2: empty checked'):
        load_references(str(bad))
    bad.write_text('task,metric,method,variant,value,backbone,source\n')
    with pytest.raises(ValueError, match=r"missing column\(s\) \['key',"):
        load_references(str(bad))


def test_num_seeds(tmp_path):
    root = str(tmp_path)
    path = make_suite(root, seeds=(0, 1))
    # --num-seeds replaces the file's seeds
    suite = load_suite(path, num_seeds=4)
    assert suite.seeds == [0, 1, 2, 3]
    assert len(suite.runs) == 2 * 4
    text = open(path).read().replace('seeds = [0, 1]\n', 'num_seeds = 3\n')
    with open(path, 'w') as f:
        f.write(text)
    assert load_suite(path).seeds == [0, 1, 2]
    with open(path, 'w') as f:
        f.write(text + 'seeds = [0]\n')
    with pytest.raises(SuiteError, match='set seeds or num_seeds, not both'):
        load_suite(path)
    with open(path, 'w') as f:
        f.write(text.replace('num_seeds = 3', 'num_seeds = 0'))
    with pytest.raises(SuiteError, match='num_seeds must be an int >= 1'):
        load_suite(path)
