"""End-to-end runs of tools/train.py and tools/test.py on the mini task
(CPU): resume equivalence after a SIGKILL, 2-process DDP with gloo, and
evaluation of a checkpoint. Kept short: a few iterations each."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import (ROOT, as_a_user_runs_it, check_user_hooks_ran,
                      free_port)
from forked_tool import run_tool

pytestmark = pytest.mark.slow

# Few iterations at a small batch; a checkpoint every 3 iterations; the
# schedule's end follows max_iters so both runs share it.
FAST = [
    'train_cfg.max_iters=6', 'train_cfg.val_interval=1000', 'trajectory_points=0',
    'param_scheduler.0.end=6', 'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=5',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=4',
    'randomness.seed=3'
]


def _run(args, mini_data_dir, timeout=300, torchrun=False, env_extra=None):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([ROOT, osp.join(ROOT, 'tests',
                                                           'support')]))
    env.update(env_extra or {})
    if not torchrun:  # a forked, pre-imported child (forked_tool.py)
        return run_tool(args, ROOT, env, timeout=timeout)
    launcher = [sys.executable, '-m', 'torch.distributed.run',
                '--nproc_per_node=2', f'--master_port={free_port()}']
    return subprocess.run(launcher + args, cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)


def _train(work_dir, mini_data_dir, extra=(), resume=False,
           config='configs/source_only/mini.py', **kw):
    args = ['tools/train.py', str(config), '--work-dir',
            str(work_dir), '--cfg-options', *FAST, *extra]
    if resume:
        args.insert(2, '--resume')
    return _run(args, mini_data_dir, **kw)


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, mini_data_dir):
    full = _train(tmp_path / 'full', mini_data_dir)
    assert full.returncode == 0, full.stderr[-3000:]

    killing = tmp_path / 'killing.py'
    killing.write_text(
        f"_base_ = ['{ROOT}/configs/source_only/mini.py']\n"
        "custom_imports = dict(imports=['clst_mmseg', 'kill_hook'])\n"
        "custom_hooks = [dict(type='RNGStateHook'),\n"
        "                dict(type='KillAfterIterHook', kill_at=3)]\n")
    killed = _train(tmp_path / 'resumed', mini_data_dir, config=killing)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert osp.exists(tmp_path / 'resumed' / 'iter_3.pth')
    assert not osp.exists(tmp_path / 'resumed' / 'iter_6.pth')

    resumed = _train(tmp_path / 'resumed', mini_data_dir, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Advance dataloader 3 steps' in resumed.stdout + resumed.stderr

    a = _load(tmp_path / 'full' / 'iter_6.pth')
    b = _load(tmp_path / 'resumed' / 'iter_6.pth')
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), k
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys() and len(sa) > 0
    for k in sa:
        assert sa[k].keys() == sb[k].keys()
        for name, value in sa[k].items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(sb[k][name])), (k, name)
    assert a['meta']['iter'] == b['meta']['iter'] == 6


def test_two_process_cpu_ddp_gloo(tmp_path, mini_data_dir):
    out = _run([
        'tools/train.py', 'configs/source_only/mini.py', '--launcher',
        'pytorch', '--work-dir',
        str(tmp_path), '--cfg-options', *as_a_user_runs_it(FAST)
    ],
               mini_data_dir,
               torchrun=True)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    # each of the two ranks fell back from nccl to gloo
    assert log.count('using the gloo backend instead of nccl') == 2
    ckpt = _load(tmp_path / 'iter_6.pth')
    assert ckpt['meta']['iter'] == 6
    check_user_hooks_ran(tmp_path, steps=(3, 6), pseudo_labels=False)
    assert 'terminate called' not in log  # the exit of either rank


def test_test_tool_prints_per_class_iou(tmp_path, mini_data_dir):
    run = _train(tmp_path, mini_data_dir,
                 ['train_cfg.max_iters=3', 'param_scheduler.0.end=3'])
    assert run.returncode == 0, run.stderr[-3000:]
    out = _run([
        'tools/test.py', 'configs/source_only/mini.py',
        str(tmp_path / 'iter_3.pth'), '--work-dir',
        str(tmp_path / 'test')
    ], mini_data_dir)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    for name in ('road', 'sidewalk', 'building', 'pole', 'vegetation', 'sky',
                 'car'):
        assert f'| {name}' in log or f'|  {name}' in log or name in log
    summary = [ln for ln in out.stdout.splitlines()
               if ln.startswith('summary:')]
    assert len(summary) == 1 and 'mIoU' in summary[0]
    miou = float(summary[0].split('mIoU ')[1].split(',')[0])
    assert 0.0 <= miou <= 100.0


def test_train_tool_fails_fast_on_missing_data_root(tmp_path):
    out = subprocess.run([
        sys.executable, 'tools/train.py', 'configs/source_only/gta2cs.py',
        '--work-dir',
        str(tmp_path / 'wd'), '--cfg-options',
        f'train_dataloader.dataset.source.data_root={tmp_path}/nowhere',
        'allow_random_init=True'
    ], cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert out.returncode != 0
    assert f'{tmp_path}/nowhere' in out.stderr
    assert 'Traceback' not in out.stderr
    assert not osp.exists(tmp_path / 'wd')
