"""tools/profile_mini_run.py: the counts and miniature options it derives
from a config, and (slow) a profile whose rows add up to its cost model."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools'))
import profile_mini_run as pmr  # noqa: E402


def _cfg(**extra):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'clst', 'mini.py'),
                          import_custom_modules=False)
    cfg.merge_from_dict(extra)
    return cfg


def test_counts_follow_the_trajectory_points():
    assert pmr.full_counts(_cfg()) == dict(iterations=250, evaluations=5,
                                           checkpoints=1)
    five = _cfg(trajectory_points=5)
    assert pmr.full_counts(five)['evaluations'] == 5
    off = _cfg(trajectory_points=0)  # train_cfg.val_interval=50 again
    assert pmr.full_counts(off)['evaluations'] == 5
    ten = _cfg(trajectory_points=10)
    assert pmr.full_counts(ten)['evaluations'] == 10


def test_miniature_scales_every_iteration_scheduler():
    # DAFormer's schedule: poly decay to max_iters + 1, linear warm-up
    cfg = _cfg(param_scheduler=[
        dict(type='PolyLR', power=1.0, by_epoch=False, begin=0, end=251),
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
             end=10)
    ])
    opts = pmr.miniature_options(cfg, 100)
    assert 'train_cfg.max_iters=100' in opts
    assert 'param_scheduler.0.end=100' in opts  # round(100.4)
    assert 'param_scheduler.1.end=4' in opts
    assert not [o for o in opts if '.begin=' in o]  # 0 stays 0


@pytest.mark.slow
def test_profile_rows_add_up_to_the_cost_model(tmp_path, mini_data_dir):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
               CLST_MMSEG_DATA_DIR=mini_data_dir)
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'profile_mini_run.py'),
         '--method', 'clst', '--iters', '8', '--work-dir',
         str(tmp_path / 'wd'), '--cfg-options', 'trajectory_points=2'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout[out.stdout.index('profile of one run'):]
    assert ('measured: 8 iterations, 2 evaluation(s), 1 checkpoint '
            'write(s); full schedule: 250 iterations, 2 evaluation(s)'
            in text)
    rows = {}
    for line in text.splitlines():
        m = re.match(r'(\S.*?)\s+([\d.]+)\s+([\d.]+)\s+(run|iter|eval|ckpt)'
                     r'\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$', line.strip())
        if m:
            rows[m.group(1)] = float(m.group(6))
    for part in ('start-up (interpreter, imports)',
                 'train step (forward, backward, optimizer)',
                 'hooks: TemporalEnsembleHook',
                 'evaluation: trajectory, label-free criteria (target train)',
                 'evaluation: trajectory, source-val mIoU'):
        assert part in rows, part
    model = re.search(r'cost model \(CPU s\): ([\d.]+) per run .* \+ '
                      r'([\d.]+) ms x 250 iterations \+ ([\d.]+) s x 2 '
                      r'evaluations = ([\d.]+)', text)
    assert model, text[-500:]
    fixed, per_iter, per_eval, total = map(float, model.groups())
    assert total == pytest.approx(sum(rows.values()), abs=0.1 * len(rows))
    assert fixed + per_iter * 0.25 + per_eval * 2 == pytest.approx(total,
                                                                  abs=0.2)
