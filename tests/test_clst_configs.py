"""CLST's configs and suites: CLST without its contrastive term is
self-training with ensemble labels (the configs agree on everything else),
and the ablation and sensitivity suites plan the runs they promise."""
import os
import os.path as osp

from mmengine.config import Config

from clst_mmseg.benchmark.identity import resolve_config
from clst_mmseg.benchmark.suite import load_suite
from conftest import ROOT


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path)).to_dict()


def test_no_contrast_ablation_differs_from_self_training_in_labels_only():
    clst = _cfg('configs/clst/ablations/no_contrastive.py')
    st = _cfg('configs/self_training/mini.py')
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'default_hooks',
                'randomness'):
        assert clst[key] == st[key], key
    cm, sm = clst['model'], st['model']
    for key in ('segmentor', 'data_preprocessor', 'pseudo_label',
                'target_augment', 'warmup_ratio'):
        assert cm[key] == sm[key], key
    assert cm['st_weight'] == sm['loss_weight'] == 1.0
    assert cm['cl_weight'] == 0 and cm['rampup_ratio'] == 0
    # the one intended difference
    assert cm['pseudo_label_source'] == 'ensemble'
    assert (cm['type'], sm['type']) == ('CLST', 'SelfTraining')


def _load(path):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return load_suite(path)
    finally:
        os.chdir(cwd)


def test_ablation_suite_compares_clst_with_each_row():
    suite = _load('configs/benchmarks/ablations.py')
    names = [m.name for m in suite.methods]
    assert {'clst', 'self_training', 'clst-no_contrastive',
            'clst-no_self_training'} <= set(names)
    assert len(suite.runs) == 3 * len(names)
    assert ('clst', 'clst-no_contrastive') in suite.comparisons
    assert ('clst', 'clst-no_self_training') in suite.comparisons
    assert ('clst', 'self_training') in suite.comparisons
    assert {b for a, b in suite.comparisons if a == 'clst'} == set(
        names) - {'clst', 'oracle'}


def test_sensitivity_suite_is_a_3x3_grid_around_the_default():
    suite = _load('configs/benchmarks/clst_sensitivity.py')
    ablation = _load('configs/benchmarks/ablations.py')
    assert 'not selection' in suite.task_title('mini')
    assert suite.report_name == 'clst_sensitivity'
    cells = {}
    for run in suite.runs:
        cfg = resolve_config(osp.join(ROOT, 'configs/clst/mini.py'),
                             run.overrides)
        cells.setdefault((cfg['model']['cl_weight'],
                          cfg['model']['contrastive_loss']['temperature']),
                         set()).add(run.seed)
    assert sorted(cells) == [(w, t) for w in (0.01, 0.1, 1.0)
                             for t in (0.05, 0.1, 0.5)]
    assert all(seeds == {0, 1, 2} for seeds in cells.values())
    # the default cell is plain CLST: the same runs as the ablation suite's
    default = {r.run_id for r in suite.runs if r.method == 'clst'}
    assert default == {r.run_id for r in ablation.runs if r.method == 'clst'}
    assert all(b == 'clst' for _, b in suite.comparisons)
    assert len(suite.comparisons) == 8
    # the config default stays the a-priori choice
    base = _cfg('configs/clst/mini.py')['model']
    assert (base['cl_weight'], base['contrastive_loss']['temperature']) == (
        0.1, 0.1)
