"""The benchmark with the real tools/train.py and tools/test.py on the mini
task: one short run, its record, and the leaderboard built from it."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from clst_mmseg.benchmark.store import ResultsStore
from conftest import ROOT

pytestmark = pytest.mark.slow

FAST = {
    'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
    'param_scheduler.0.end': 2, 'default_hooks.checkpoint.interval': 2,
    'default_hooks.logger.interval': 1, 'train_dataloader.batch_size': 2,
    '+val_dataloader.dataset.indices': 8, 'val_dataloader.batch_size': 8,
    '+test_dataloader.dataset.indices': 8, 'test_dataloader.batch_size': 8,
}


def test_real_run_record_and_report(tmp_path, mini_data_dir):
    suite = tmp_path / 'suite.py'
    base = osp.join(ROOT, 'configs/benchmarks/_base_/default.py')
    suite.write_text(
        f"_base_ = [{base!r}]\n"
        "tasks = ['mini']\nmethods = ['source_only']\nseeds = [0]\n"
        "device = 'cpu'\n"
        f"configs_root = {osp.join(ROOT, 'configs')!r}\n"
        f"results_dir = {str(tmp_path / 'results')!r}\n"
        f"work_dir = {str(tmp_path / 'work')!r}\n"
        f"overrides = {FAST!r}\n")
    env = dict(os.environ, OMP_NUM_THREADS='1',
               CLST_MMSEG_DATA_DIR=mini_data_dir)
    out = subprocess.run([sys.executable, 'tools/benchmark.py', str(suite)],
                         cwd=ROOT, env=env, text=True, capture_output=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert '| *Source only* | 1 |' in out.stdout
    (rec, ) = ResultsStore(str(tmp_path / 'results')).records('mini')
    assert rec['status'] == 'finished', rec['reason']
    assert rec['config_verified'] is True  # train.py trained that config
    assert rec['iterations'] == 2 and rec['checkpoint']['iteration'] == 2
    assert sorted(rec['per_class_iou']) == sorted(
        ['road', 'sidewalk', 'building', 'pole', 'vegetation', 'sky', 'car'])
    assert 0 <= rec['metrics']['mIoU'] <= 100
    # 10 trajectory points on a 2-iteration run: a validation after each
    assert [p['step'] for p in rec['curve']] == [1, 2]
    assert rec['curve'][-1]['mIoU'] == rec['metrics']['mIoU']  # same ckpt
    # the trajectory (target-val score + label-free criteria) is recorded
    assert [p['step'] for p in rec['trajectory']] == [1, 2]
    assert rec['trajectory'][-1]['metrics']['mIoU'] == rec['metrics']['mIoU']
    assert set(rec['trajectory'][0]['criteria']) == {
        'entropy', 'im', 'snd', 'source_mIoU'}
    assert rec['devices']['type'] == 'cpu'
    assert rec['versions']['mmsegmentation'] == '1.2.2'
    # the training's own validation after iteration 2 gave the metrics ...
    assert rec['checkpoint']['evaluated_by'] == 'training (validation)'
    assert rec['test_time_s'] is None
    work = tmp_path / 'work' / 'mini' / rec['run_id']
    metrics = json.loads((work / 'val_metrics' / 'iter_2.json').read_text())
    assert metrics['mIoU'] == rec['metrics']['mIoU']
    assert metrics['IoU.road'] == rec['per_class_iou']['road']
    # ... exactly what tools/test.py computes from the checkpoint
    test = subprocess.run(
        [sys.executable, 'tools/test.py', rec['config'],
         str(work / 'iter_2.pth'), '--work-dir', str(tmp_path / 'test'),
         '--metrics-json', str(tmp_path / 'test.json'), '--no-verify',
         '--cfg-options', *rec['cfg_options']],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    assert test.returncode == 0, test.stderr[-3000:]
    assert json.loads((tmp_path / 'test.json').read_text()) == metrics
    md = (tmp_path / 'results' / 'mini' / 'leaderboard.md').read_text()
    assert f"| *Source only* | 1 | {rec['metrics']['mIoU']:.1f} |" in md
