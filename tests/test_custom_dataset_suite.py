"""A user's own dataset pair through tools/benchmark.py: a tiny two-domain
set (3 classes, 32x32 images), one task base, one task config per method
in the user's own folder (the suite's ``config_pattern``), a short schedule
through the suite's overrides, and a suite-wide override that one method
does not take caught up front."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from clst_mmseg.benchmark.store import ResultsStore
from clst_mmseg.benchmark.suite import SuiteError, load_suite
from conftest import ROOT

CLASSES = ('ground', 'wall', 'thing')
# source colours per class; the target shifts them
SOURCE = np.array([[90, 90, 90], [200, 60, 40], [40, 160, 220]], np.uint8)
SHIFT = np.array([30, -20, 10])


def _scene(rng):
    label = np.zeros((32, 32), np.uint8)
    label[:rng.integers(8, 20)] = 1  # a wall on top
    y, x = rng.integers(4, 24, size=2)
    label[y:y + 8, x:x + 8] = 2  # a thing somewhere
    return label


def _write(folder, name, array, mode=None):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(array, mode).save(osp.join(folder, f'{name}.png'))


def make_pair(root):
    """source: img/, ann/; target: img/{train,val}, ann/val."""
    rng = np.random.default_rng(0)
    for domain, n in (('source', 8), ('target', 12)):
        for i in range(n):
            label = _scene(rng)
            colours = SOURCE.astype(int) + (SHIFT if domain == 'target'
                                            else 0)
            img = np.clip(colours[label] + rng.integers(-10, 10, (32, 32, 3)),
                          0, 255).astype(np.uint8)
            split = '' if domain == 'source' else (
                'train' if i < 8 else 'val')
            _write(osp.join(root, domain, 'img', split), f'{i:03d}', img)
            if domain == 'source' or split == 'val':
                _write(osp.join(root, domain, 'ann', split), f'{i:03d}',
                       label, 'L')


TASK_BASE = """\
# The task "pair": a labelled source and an unlabelled target (3 classes,
# 32x32), and the mini model sized for it.
_base_ = ['{root}/configs/_base_/models/mini_deeplab.py']
segmentor = dict(decode_head=dict(num_classes=3))
data_preprocessor = dict(size=(32, 32))
metainfo = dict(classes={classes!r},
                palette=[[90, 90, 90], [200, 60, 40], [40, 160, 220]])
files = dict(img_suffix='.png', seg_map_suffix='.png', metainfo=metainfo)
source_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5), dict(type='PackSegInputs')]
target_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=0.5),
    dict(type='PackUDAInputs')]
val_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')]
test_pipeline = val_pipeline
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(type='BaseSegDataset', data_root='{data}/source',
                    data_prefix=dict(img_path='img', seg_map_path='ann'),
                    pipeline=source_pipeline, **files),
        target=dict(type='BaseSegDataset', data_root='{data}/target',
                    data_prefix=dict(img_path='img/train'),
                    pipeline=target_pipeline, **files)))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='BaseSegDataset', data_root='{data}/target',
                 data_prefix=dict(img_path='img/val', seg_map_path='ann/val'),
                 pipeline=val_pipeline, **files))
test_dataloader = val_dataloader
val_evaluator = dict(type='SubsetIoUMetric')
test_evaluator = val_evaluator
"""

METHOD_CONFIG = """\
_base_ = ['../../_base_/pair.py', '{root}/configs/_base_/uda/{method}.py',
          '{root}/configs/_base_/schedules/mini.py',
          '{root}/configs/_base_/default_runtime.py']
model = dict(segmentor={{{{_base_.segmentor}}}},
             data_preprocessor={{{{_base_.data_preprocessor}}}})
"""

SHORT = {
    'train_cfg.max_iters': 4, 'train_cfg.val_interval': 4,
    'trajectory_points': 0,
    'param_scheduler.0.end': 4, 'default_hooks.checkpoint.interval': 4,
    'default_hooks.logger.interval': 1,
}


def _user_folder(tmp_path, methods):
    make_pair(str(tmp_path / 'data'))
    configs = tmp_path / 'my_configs'
    (configs / '_base_').mkdir(parents=True)
    (configs / '_base_' / 'pair.py').write_text(TASK_BASE.format(
        root=ROOT, data=tmp_path / 'data', classes=CLASSES))
    (configs / 'tasks' / 'pair').mkdir(parents=True)
    for method in methods:
        (configs / 'tasks' / 'pair' / f'{method}.py').write_text(
            METHOD_CONFIG.format(root=ROOT, method=method))
    return configs


def _suite(tmp_path, configs, methods, extra=''):
    base = osp.join(ROOT, 'configs/benchmarks/_base_/default.py')
    suite = tmp_path / 'suite.py'
    suite.write_text(
        f"_base_ = [{base!r}]\n"
        f"tasks = ['pair']\nmethods = {list(methods)!r}\nseeds = [0]\n"
        "device = 'cpu'\n"
        f"config_pattern = '{configs}/tasks/{{task}}/{{method}}.py'\n"
        f"results_dir = {str(tmp_path / 'results')!r}\n"
        f"work_dir = {str(tmp_path / 'work')!r}\n"
        f"overrides = {SHORT!r}\n" + extra)
    return str(suite)


def test_suite_override_a_method_does_not_take_stops_up_front(tmp_path):
    methods = ['source_only', 'self_training']
    configs = _user_folder(tmp_path, methods)
    suite = _suite(tmp_path, configs, methods)
    spec = load_suite(suite)
    assert [r.config_display for r in spec.runs] == [
        f'{configs}/tasks/pair/{m}.py' for m in methods
    ]
    with pytest.raises(SuiteError) as err:
        load_suite(suite, extra_overrides={'model.warmup_iters': 2})
    assert str(err.value) == (
        f"suite {suite}: override model.warmup_iters: UDASegmentor (the "
        f"model of {configs}/tasks/pair/source_only.py, method "
        "'source_only') takes no 'warmup_iters'; set it only for the "
        "methods that have it: method_overrides=dict(<method>="
        "{'model.warmup_iters': ...})")
    # per method, it reaches only that method's runs
    spec = load_suite(_suite(
        tmp_path, configs, methods,
        "method_overrides = dict(self_training={'+model.warmup_iters': 2})"
        "\n"))
    runs = {r.method: r for r in spec.runs}
    assert '+model.warmup_iters=2' in runs['self_training'].cfg_options
    assert not any('warmup' in o for o in runs['source_only'].cfg_options)
    # a typo deep in the segmentor is caught the same way
    with pytest.raises(SuiteError, match="DeepLabV2Head .* takes no "
                       "'num_clases'"):
        load_suite(suite, extra_overrides={
            'model.segmentor.decode_head.num_clases': 3})
    # a knob out of the range its method declares, before any run
    with pytest.raises(SuiteError) as err:
        load_suite(_suite(
            tmp_path, configs, methods,
            "method_overrides = dict(self_training={'model.loss_weight': "
            "-1})\n"))
    assert str(err.value).endswith(
        f"overrides of {configs}/tasks/pair/self_training.py (method "
        "'self_training'): model.loss_weight: SelfTraining expects a finite "
        "number >= 0, got -1")


@pytest.mark.slow
def test_custom_pair_through_the_benchmark(tmp_path):
    methods = ['source_only', 'self_training']
    configs = _user_folder(tmp_path, methods)
    suite = _suite(
        tmp_path, configs, methods,
        "method_overrides = dict(self_training={'+model.warmup_iters': 2})\n")
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    # one run keeps it short: the adaptation method, with the per-method
    # override
    out = subprocess.run(
        [sys.executable, 'tools/benchmark.py', suite, '--only',
         'self_training'], cwd=ROOT, env=env, text=True,
        capture_output=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    (rec, ) = ResultsStore(str(tmp_path / 'results')).records('pair')
    assert rec['status'] == 'finished', rec['reason']
    assert rec['method'] == 'self_training' and rec['iterations'] == 4
    assert rec['config'] == f'{configs}/tasks/pair/self_training.py'
    assert sorted(rec['per_class_iou']) == sorted(CLASSES)
    assert 0 <= rec['metrics']['mIoU'] <= 100
    # what training added, not the process total
    assert rec['peak_memory_kind'] == 'host_rss_growth'
    assert 0 < rec['peak_memory_mb'] < rec['peak_host_rss_mb']
    md = (tmp_path / 'results' / 'pair' / 'leaderboard.md').read_text()
    assert f"| Self-training | 1 | {rec['metrics']['mIoU']:.1f} |" in md
