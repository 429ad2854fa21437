"""End-to-end runs of CLST on the mini task (CPU, a few iterations each):
train + test tools and a 2-process DDP run (gloo) whose ranks end with
identical ensemble memories. Resume equivalence (weights, ensemble memory,
every hook attribute) is the method check's (tests/test_method_check.py),
the kill mid-run tests/test_train_e2e.py's."""

import pytest
import torch

from conftest import ROOT, as_a_user_runs_it, check_user_hooks_ran
from test_train_e2e import _load, _run

pytestmark = pytest.mark.slow

CONFIG = 'configs/clst/mini.py'
# Self-training from iteration 2 and a memory log every iteration, so the
# few iterations exercise every term and the ensemble.
FAST = [
    'train_cfg.max_iters=6', 'train_cfg.val_interval=1000',
    'param_scheduler.0.end=6', 'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=5',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=4',
    'randomness.seed=3', 'model.warmup_ratio=0.34', 'trajectory_points=0'
]
# the ensemble's log every iteration (configs/clst/mini.py's hook list) and
# two trajectory points (their agreement criterion reads the ensemble)
LOG_ENSEMBLE = ['custom_hooks.3.log_interval=1', 'trajectory_points=2']


def _train(work_dir, mini_data_dir, extra=(), config=CONFIG, **kw):
    args = ['tools/train.py', str(config), '--work-dir', str(work_dir),
            '--cfg-options', *FAST, *extra]
    return _run(args, mini_data_dir, **kw)


def test_clst_trains_fills_the_ensemble_and_tests(tmp_path, mini_data_dir):
    run = _train(tmp_path, mini_data_dir, extra=LOG_ENSEMBLE)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    for key in ('st.loss_ce', 'cl.loss', 'cl.nce', 'cl.pos_sim',
                'ens.filled'):
        assert key in log, key
    # the warm-up ratio followed the shortened schedule (0.34 of 6)
    assert ('CLST: self-training from iteration 2, contrastive term from '
            'iteration 2 of 6') in log
    assert (tmp_path / 'trajectory.json').exists()
    ckpt = _load(tmp_path / 'iter_6.pth')
    codes = ckpt['temporal_ensemble']['memory']['codes']
    assert codes.shape == (500, 16, 16) and codes.dtype == torch.int16
    assert (codes != 0).any()
    # the model as trained (the checkpoint's identity is checked)
    out = _run(['tools/test.py', CONFIG, str(tmp_path / 'iter_6.pth'),
                '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                'model.warmup_ratio=0.34'], mini_data_dir)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert any(ln.startswith('summary:') and 'mIoU' in ln
               for ln in out.stdout.splitlines())


def test_two_process_ddp_keeps_the_ensembles_identical(tmp_path,
                                                       mini_data_dir):
    config = tmp_path / 'ddp.py'
    config.write_text(
        f"_base_ = ['{ROOT}/{CONFIG}']\n"
        "custom_imports = dict(imports=['clst_mmseg', 'clst_dump_hook'])\n"
        "custom_hooks = _base_.custom_hooks + [dict(type='DumpEnsembleHook')]"
        "\n"
        # ranks must draw different target images for the test to mean
        # something (with one seed for all ranks they draw the same ones)
        "randomness = dict(seed=3, diff_rank_seed=True)\n")
    run = _run([
        'tools/train.py', str(config), '--launcher', 'pytorch',
        '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
        *as_a_user_runs_it(FAST), 'custom_hooks.3.log_interval=1'
    ], mini_data_dir, torchrun=True)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    wd = tmp_path / 'wd'
    check_user_hooks_ran(wd, steps=(3, 6), pseudo_labels=True)
    rank0 = torch.load(wd / 'ensemble_rank0.pth', weights_only=True)
    rank1 = torch.load(wd / 'ensemble_rank1.pth', weights_only=True)
    assert torch.equal(rank0, rank1)
    ckpt = _load(wd / 'iter_6.pth')
    assert torch.equal(ckpt['temporal_ensemble']['memory']['codes'], rank0)
    # 6 steps x 4 images per rank: more than 24 images touched means every
    # rank folded in the other rank's predictions too
    touched = int((rank0 != 0).flatten(1).any(1).sum())
    assert 24 < touched <= 48, touched
