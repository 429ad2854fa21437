"""AdaptSegNet and ADVENT under 2-process DDP (gloo, CPU) with mmengine's
MMSeparateDistributedDataParallel: a run killed with SIGKILL after the
iteration-2 checkpoint and resumed with --resume continues to the end, and
both ranks end with identical weights (their BN statistics, which stay per
process, differ: the ranks trained on different images). Plus the
single-process pieces the wrapper relies on."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from conftest import (ROOT, as_a_user_runs_it, check_user_hooks_ran,
                      free_port)
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

register_all_modules()

FAST = [
    'train_cfg.max_iters=4', 'train_cfg.val_interval=1000', 'trajectory_points=0',
    'param_scheduler.0.end=4', 'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=3',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2'
]
CONFIGS = {
    'adaptsegnet': 'configs/adaptsegnet/mini.py',
    'advent': 'configs/advent/mini.py',
}


@pytest.mark.parametrize('method', sorted(CONFIGS))
def test_configs_use_the_separate_ddp_wrapper(method):
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[method]))
    assert cfg.model_wrapper_cfg == dict(
        type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=False)


@MODEL_WRAPPERS.register_module(force=True)
class _CountingWrapper(torch.nn.Module):
    """An in-place wrapper as MMSeparateDistributedDataParallel puts around
    a part: it forwards, and has none of the part's other methods."""
    calls = 0

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        type(self).calls += 1
        return self.module(*args, **kwargs)


def test_state_dict_keys_skip_in_place_wrappers():
    """Wrapped in place (as MMSeparateDistributedDataParallel does), the
    parts keep their plain keys, and the forward runs through the
    wrapper."""
    from mmengine.model import is_model_wrapper

    _CountingWrapper.calls = 0
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS['adaptsegnet']))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    plain_keys = list(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    before = model.level_logits(x)
    model.segmentor = _CountingWrapper(model.segmentor)
    model.discriminators = _CountingWrapper(model.discriminators)
    assert is_model_wrapper(model.segmentor)
    assert list(model.state_dict()) == plain_keys
    after = model.level_logits(x)
    for level in ('main', 'aux'):
        torch.testing.assert_close(after[level], before[level])
    maps = {level: model.discriminator_input(model._upsample(v, (64, 64)))
            for level, v in after.items()}
    model.discriminator_losses(maps, maps)
    # one segmentor forward, two discriminator forwards (source, target)
    assert _CountingWrapper.calls == 3
    model.eval()
    assert model(x, mode='tensor').shape == before['main'].shape


@pytest.mark.parametrize('method', sorted(CONFIGS))
def test_trajectory_hook_measures_through_in_place_wrappers(
        method, tmp_path, mini_data_dir):
    """The trajectory hook's criteria (run on rank 0 at every trajectory
    point) reach the segmentor through a wrapper put in place around it:
    under DDP they crashed with "'MMSeparateDistributedDataParallel' object
    has no attribute 'predict'" at the first validation."""
    import json
    from types import SimpleNamespace

    from clst_mmseg.engine.hooks import CheckpointTrajectoryHook
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[method]))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.segmentor = _CountingWrapper(model.segmentor)
    model.discriminators = _CountingWrapper(model.discriminators)
    log = SimpleNamespace(info=lambda *a: None, warning=lambda *a: None)
    runner = SimpleNamespace(
        cfg=cfg, model=model, work_dir=str(tmp_path), iter=4, hooks=[],
        logger=log, val_loop=object(),
        train_loop=SimpleNamespace(max_iters=4, val_interval=4))
    hook = CheckpointTrajectoryHook(num_points=1, target_images=2,
                                    batch_size=2)
    hook.before_train(runner)
    hook.after_val_epoch(runner, metrics={'mIoU': 12.5})
    with open(tmp_path / 'trajectory.json') as f:
        (point, ) = json.load(f)
    assert point['step'] == 4 and point['metrics'] == {'mIoU': 12.5}
    assert set(point['criteria']) == {'entropy', 'im', 'snd', 'source_mIoU'}
    assert 0 <= point['criteria']['source_mIoU'] <= 100


def _torchrun(args, mini_data_dir, timeout=400):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [ROOT, osp.join(ROOT, 'tests', 'support')]))
    return subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run',
         '--nproc_per_node=2', f'--master_port={free_port()}',
         'tools/train.py', *args],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize('method', ['adaptsegnet', 'advent'])
def test_two_process_kill_resume_ends_with_identical_weights(
        tmp_path, mini_data_dir, method):
    base = osp.join(ROOT, CONFIGS[method])
    common = ("custom_imports = dict(imports=['clst_mmseg', 'kill_hook', "
              "'dump_weights_hook'])\n"
              # different seeds per rank: different images on each rank
              # (and different initial weights, which DDP broadcasts)
              "randomness = dict(seed=3, diff_rank_seed=True)\n")
    killing = tmp_path / 'killing.py'
    killing.write_text(
        f"_base_ = ['{base}']\n" + common +
        "custom_hooks = _base_.custom_hooks + [\n"
        "    dict(type='KillAfterIterHook', kill_at=2)]\n")
    dumping = tmp_path / 'dumping.py'
    dumping.write_text(
        f"_base_ = ['{base}']\n" + common +
        "custom_hooks = _base_.custom_hooks + [\n"
        "    dict(type='DumpWeightsHook')]\n")
    wd = tmp_path / 'wd'
    args = ['--launcher', 'pytorch', '--work-dir', str(wd), '--cfg-options',
            *as_a_user_runs_it(FAST)]

    killed = _torchrun([str(killing), *args], mini_data_dir)
    assert killed.returncode != 0
    assert osp.exists(wd / 'iter_2.pth'), (killed.stdout +
                                           killed.stderr)[-3000:]
    assert not osp.exists(wd / 'iter_4.pth')

    resumed = _torchrun([str(dumping), '--resume', *args], mini_data_dir)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    assert 'MMSeparateDistributedDataParallel' in log
    # resumed at iteration 2, skipping the trained batches (rank 0 logs)
    assert 'Advance dataloader 2 steps' in log, log[-3000:]
    # killed before its validation at 2: validated and measured at 4
    # (crashed there: the segmentor is wrapped in place)
    check_user_hooks_ran(wd, steps=(4, ), pseudo_labels=False)

    rank0 = torch.load(wd / 'weights_rank0.pth', weights_only=True)
    rank1 = torch.load(wd / 'weights_rank1.pth', weights_only=True)
    ckpt = torch.load(wd / 'iter_4.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 4
    sd0, sd1 = rank0['state_dict'], rank1['state_dict']
    # plain keys (no '.module.' from the in-place DDP wrappers)
    assert sd0.keys() == sd1.keys() == ckpt['state_dict'].keys()
    assert not any('.module.' in k for k in sd0)
    assert any(k.startswith('discriminators.main.') for k in sd0)
    running = [k for k in sd0 if 'running_' in k]
    params = [k for k in sd0 if k not in running
              and 'num_batches_tracked' not in k]
    for k in params:
        assert torch.equal(sd0[k], sd1[k]), k
        assert torch.equal(sd0[k], ckpt['state_dict'][k]), k
    # the ranks saw different images: their per-process BN statistics
    # differ, so equal weights come from averaged gradients
    assert any(not torch.equal(sd0[k], sd1[k]) for k in running)
    # both optimizers continued from the checkpoint: 4 Adam steps in all
    for name in ('segmentor', 'discriminators'):
        opt0, opt1 = rank0['optimizer'][name], rank1['optimizer'][name]
        steps = {float(s['step']) for s in opt0['state'].values()}
        assert steps == {4.0}, (name, steps)
        for i, state in opt0['state'].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(value),
                                   torch.as_tensor(opt1['state'][i][key]))
