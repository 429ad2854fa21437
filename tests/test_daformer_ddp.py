"""DAFormer, MIC and CLST on the DAFormer stack under 2-process DDP (gloo,
CPU) on the mini task, with each config's own hooks and those of a user's
run (validations, trajectory points, pseudo-label diagnostics): the student
and DACS's EMA teacher end with identical weights on both ranks (BN running
statistics stay per process), CLST's ensemble memory is identical, rare
class sampling draws other images on each rank, the same ones for the same
seed, and a run killed after its iteration-2 checkpoint
and resumed ends bit-equal to the uninterrupted one (RNGStateHook restores
each rank's generators; BN statistics aside on rank 1, which loads rank 0's
from the checkpoint), the validation it skipped at 2 changing nothing."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, as_a_user_runs_it, check_user_hooks_ran, free_port

pytestmark = pytest.mark.slow

CONFIGS = {m: osp.join(ROOT, 'configs', m, 'mini.py')
           for m in ('daformer', 'mic', 'clst_daformer')}
# 4 iterations of 2 + 2 images per rank; checkpoints at 2 and 4; the
# schedule's poly decay ends with the run, its warm-up after 2 iterations;
# the hooks a user's run has (as_a_user_runs_it: trajectory points with a
# validation at 2 and 4, the suites' pseudo-label diagnostics)
FAST = as_a_user_runs_it([
    'train_cfg.max_iters=4',
    'param_scheduler.0.end=4', 'param_scheduler.1.end=2',
    'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=3',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
])
#: BN running statistics: per process under DDP (broadcast_buffers=False).
PER_RANK = ('running_mean', 'running_var', 'num_batches_tracked')


def _config(tmp_path, method, *hooks, name='ddp.py', diff_rank_seed=None):
    """The method's mini config with its own custom hooks plus ``hooks``
    (from tests/support), 4 validation images, seed 3; ``diff_rank_seed``
    as the shipped configs set it (default_runtime.py) unless given."""
    path = tmp_path / name
    imports = ['clst_mmseg', 'dump_weights_hook', 'draws_dump_hook',
               'kill_hook', 'clst_dump_hook']
    path.write_text(
        f"_base_ = ['{CONFIGS[method]}']\n"
        f'custom_imports = dict(imports={imports!r})\n'
        'custom_hooks = _base_.custom_hooks + [' + ', '.join(
            f'dict(type={name!r}' + ''.join(f', {k}={v!r}'
                                            for k, v in kw.items()) + ')'
            for name, kw in hooks) + ']\n'
        'val_dataloader = dict(dataset=dict(indices=4))\n'
        'randomness = dict(seed=3' + (
            '' if diff_rank_seed is None else
            f', diff_rank_seed={diff_rank_seed}') + ')\n')
    return str(path)


def _torchrun(config, work_dir, mini_data_dir, *extra, options=(),
             timeout=600):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [ROOT, osp.join(ROOT, 'tests', 'support')]))
    return subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={free_port()}', 'tools/train.py', config,
         '--launcher', 'pytorch', '--work-dir', str(work_dir), *extra,
         '--cfg-options', *FAST, *options],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout)


def _ranks(work_dir, stem):
    return [torch.load(osp.join(work_dir, f'{stem}_rank{r}.pth'),
                       weights_only=True) for r in (0, 1)]


def _draws(work_dir):
    out = []
    for r in (0, 1):
        with open(osp.join(work_dir, f'draws_rank{r}.json')) as f:
            out.append(json.load(f))
    return out


def _check_trained_identically(work_dir, log, teacher, per_rank=()):
    """Both ranks trained 4 iterations under DDP with a user's hooks
    (validations, trajectory points, pseudo-label scores at 2 and 4); their
    weights (the teacher's too) are identical and the checkpoint's, their
    BN statistics (and the state named by the ``per_rank`` prefixes) differ;
    each rank's rare class sampling drew its own source images."""
    assert 'Distributed training: True' in log
    check_user_hooks_ran(work_dir, steps=(2, 4), pseudo_labels=True)

    sd0, sd1 = (w['state_dict'] for w in _ranks(work_dir, 'weights'))
    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'),
                      weights_only=True)['state_dict']
    assert sd0.keys() == sd1.keys() == ckpt.keys()
    params = [k for k in sd0
              if not k.endswith(PER_RANK) and not k.startswith(per_rank)]
    for k in params:
        assert torch.equal(sd0[k], sd1[k]), k
        assert torch.equal(sd0[k], ckpt[k]), k
    # the ranks saw different images: their BN statistics differ (the
    # teacher's average each rank's own), so equal weights come from
    # averaged gradients
    stats = [k for k in sd0 if k.endswith('running_mean')]
    assert any(not torch.equal(sd0[k], sd1[k]) for k in stats)
    for prefix in per_rank:
        assert any(not torch.equal(sd0[k], sd1[k])
                   for k in sd0 if k.startswith(prefix)), prefix
    if teacher:
        student = [k for k in params if k.startswith('segmentor.')]
        mirrored = ['teacher.model.' + k[len('segmentor.'):] for k in student]
        assert set(mirrored) <= set(params) and len(mirrored) > 100
        assert int(sd0['teacher.step']) == 4
        # an average of the students, not a copy of the last one
        assert any(not torch.equal(sd0[s], sd0[t])
                   for s, t in zip(student, mirrored))
    else:
        assert not any(k.startswith('teacher.') for k in sd0)

    draws = _draws(work_dir)
    assert [sorted(d) for d in draws] == [['1', '2', '3', '4']] * 2
    sources = [[s[0] for it in sorted(d) for s in d[it]['source']]
               for d in draws]
    assert sources[0] != sources[1]
    return draws


@pytest.mark.parametrize('method,workers,diff_rank_seed', [
    # data loader workers, as the paper configs load: mmengine seeds each
    # rank's workers apart, the config's one seed is enough
    ('mic', 1, False),
    # loading in the main process (the CPU tasks' num_workers=0): its
    # generators are the ranks' own with the shipped diff_rank_seed=True
    ('clst_daformer', 0, None)])
def test_two_process_ddp_keeps_the_ranks_identical(tmp_path, mini_data_dir,
                                                   method, workers,
                                                   diff_rank_seed):
    """MIC (DAFormer's EMA teacher and masked term) and CLST on the DAFormer
    stack (the temporal ensemble, all-gathered): identical state on both
    ranks after training and validations, different draws per rank."""
    hooks = [('DumpWeightsHook', {}), ('DumpDrawsHook', {})]
    if method == 'clst_daformer':
        hooks.append(('DumpEnsembleHook', {}))
    wd = tmp_path / 'wd'
    run = _torchrun(
        _config(tmp_path, method, *hooks, diff_rank_seed=diff_rank_seed), wd,
        mini_data_dir, options=[f'train_dataloader.num_workers={workers}'])
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    # CLST's smoothed centroids are each rank's own (docs/multi_gpu.md)
    _check_trained_identically(
        wd, log, teacher=method == 'mic',
        per_rank=('contrastive_loss.', ) if method == 'clst_daformer' else ())
    if method == 'mic':
        assert 'masked.loss_ce' in log
    else:
        ens0, ens1 = _ranks(wd, 'ensemble')
        assert torch.equal(ens0, ens1) and (ens0 != 0).any()
        ckpt = torch.load(wd / 'iter_4.pth', weights_only=True)
        assert torch.equal(ckpt['temporal_ensemble']['memory']['codes'],
                           ens0)


def test_two_process_ddp_resume_continues_each_ranks_draws(tmp_path,
                                                           mini_data_dir):
    """DAFormer on 2 processes: an uninterrupted run, and one killed after
    the iteration-2 checkpoint and resumed. The killed run drew what the
    uninterrupted one drew (same seed), the resumed run draws on from there
    on each rank (its generators restored after mmengine's replay), and it
    ends with the uninterrupted run's weights, teacher and optimizer state
    on each rank (rank 0's BN statistics too; rank 1 resumed from rank 0's,
    the only ones a checkpoint holds)."""
    full = tmp_path / 'full'
    run = _torchrun(_config(tmp_path, 'daformer', ('DumpWeightsHook', {}),
                            ('DumpDrawsHook', {})), full, mini_data_dir)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    draws_full = _check_trained_identically(full, log, teacher=True)

    wd = tmp_path / 'resumed'
    killing = _config(tmp_path, 'daformer', ('DumpDrawsHook', {}),
                      ('KillAfterIterHook', dict(kill_at=2)),
                      name='killing.py')
    killed = _torchrun(killing, wd, mini_data_dir)
    assert killed.returncode != 0
    assert osp.exists(wd / 'iter_2.pth'), (killed.stdout +
                                           killed.stderr)[-3000:]
    assert not osp.exists(wd / 'iter_4.pth')
    # rank 0 wrote every rank's generators into the checkpoint
    states = torch.load(wd / 'iter_2.pth', weights_only=True)['meta'][
        'rng_states']
    assert sorted(states) == ['0', '1']
    assert not torch.equal(states['0']['torch'], states['1']['torch'])
    for d_full, d_killed in zip(draws_full, _draws(wd)):
        assert sorted(d_killed) == ['1', '2']
        assert all(d_killed[i] == d_full[i] for i in ('1', '2'))

    resumed = _torchrun(
        _config(tmp_path, 'daformer', ('DumpWeightsHook', {}),
                ('DumpDrawsHook', {}), name='resuming.py'),
        wd, mini_data_dir, '--resume')
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert 'Advance dataloader 2 steps' in log, log[-3000:]
    assert _draws(wd) == draws_full
    for r, (a, b) in enumerate(zip(_ranks(full, 'weights'),
                                   _ranks(wd, 'weights'))):
        assert a['state_dict'].keys() == b['state_dict'].keys()
        for k, v in a['state_dict'].items():
            # the checkpoint holds rank 0's BN statistics, which every rank
            # loads on resume: rank 1's own differ from then on
            if r == 1 and k.endswith(('running_mean', 'running_var')):
                continue
            assert torch.equal(v, b['state_dict'][k]), (r, k)
        sa, sb = a['optimizer']['state'], b['optimizer']['state']
        assert sa.keys() == sb.keys() and len(sa) > 100
        for i in sa:
            for name, v in sa[i].items():
                assert torch.equal(torch.as_tensor(v),
                                   torch.as_tensor(sb[i][name])), (r, i, name)
