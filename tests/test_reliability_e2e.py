"""tools/train.py and tools/test.py on the mini task under injected faults
(tests/support/fault_hooks.py) and bad input: each ends in one line, not a
traceback, and loses nothing. A few iterations each."""
import os
import os.path as osp

import pytest
import torch

from conftest import ROOT
from forked_tool import run_tool

pytestmark = pytest.mark.slow

FAST = ['train_cfg.max_iters=4', 'param_scheduler.0.end=4',
        'train_cfg.val_interval=1000', 'trajectory_points=0', 'default_hooks.checkpoint.interval=2',
        'train_dataloader.batch_size=2', 'randomness.seed=3']


def _run(args, mini_data_dir=None):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([ROOT, osp.join(ROOT, 'tests',
                                                           'support')]))
    if mini_data_dir:
        env['CLST_MMSEG_DATA_DIR'] = mini_data_dir
    return run_tool(args, ROOT, env, timeout=600)


def _faulty(tmp_path, hook):
    path = tmp_path / 'faulty.py'
    path.write_text(
        f"_base_ = ['{ROOT}/configs/source_only/mini.py']\n"
        "custom_imports = dict(imports=['clst_mmseg', 'fault_hooks'])\n"
        f"custom_hooks = [dict(type='RNGStateHook'), {hook}]\n")
    return str(path)


def _last_line(out):
    lines = out.stderr.strip().splitlines()
    assert 'Traceback' not in out.stderr, out.stderr[-3000:]
    return lines[-1]


def test_unlogged_nan_loss_stops_training_in_one_line(tmp_path,
                                                      mini_data_dir):
    # the check of every step (not the logger) stops at the NaN of
    # iteration 3
    out = _run(['tools/train.py',
                _faulty(tmp_path, "dict(type='PoisonWeightsHook', at=2)"),
                '--work-dir', str(tmp_path / 'wd'), '--cfg-options', *FAST],
               mini_data_dir)
    assert out.returncode == 1
    assert _last_line(out) == ('error: non-finite loss: decode.loss_ce = nan '
                               'at iteration 3')
    assert (tmp_path / 'wd' / 'non_finite.json').exists()
    assert not (tmp_path / 'wd' / 'iter_4.pth').exists()


def test_disk_full_then_corrupt_checkpoint_then_resume(tmp_path,
                                                       mini_data_dir):
    wd = tmp_path / 'wd'
    out = _run(['tools/train.py',
                _faulty(tmp_path, "dict(type='FullDiskHook', at=4)"),
                '--work-dir', str(wd), '--cfg-options', *FAST],
               mini_data_dir)
    assert out.returncode == 1
    assert _last_line(out) == (f'error: disk full while writing '
                               f'{wd}/iter_4.pth (No space left on device)')
    assert sorted(p for p in os.listdir(wd) if 'pth' in p) == ['iter_2.pth']
    assert (wd / 'last_checkpoint').read_text() == str(wd / 'iter_2.pth')
    # what a writer in place (mmengine's own) leaves when killed mid-save
    (wd / 'iter_4.pth').write_bytes((wd / 'iter_2.pth').read_bytes()[:999])
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_4.pth'))
    out = _run(['tools/train.py', 'configs/source_only/mini.py', '--resume',
                '--work-dir', str(wd), '--cfg-options', *FAST],
               mini_data_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    (note, ) = [ln for ln in out.stdout.splitlines()
                if ln.startswith('resume:')]
    assert note == (
        f'resume: passed over 1 checkpoint(s) that do not load ({wd}/'
        'iter_4.pth: truncated or corrupt checkpoint (PytorchStreamReader '
        'failed reading zip archive: failed finding central directory); '
        f'kept as iter_4.pth.corrupt); resuming from {wd}/iter_2.pth')
    assert 'Advance dataloader 2 steps' in out.stdout + out.stderr
    ckpt = torch.load(wd / 'iter_4.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert (wd / 'iter_4.pth.corrupt').stat().st_size == 999


@pytest.mark.parametrize('extra, expected', [
    (['train_cfg.max_iters=-5'],
     'error: train_cfg.max_iters: expected an int >= 1, got -5'),
    (['train_cfg.max_iterz=2'],
     "error: train_cfg.max_iterz: not a key of the config (train_cfg has no "
     "key 'max_iterz'; did you mean 'train_cfg.max_iters'?); to add a new "
     "key, write +train_cfg.max_iterz=..."),
    (['+model.segmentor.backbone.dept=3'],
     "error: model.segmentor.backbone.dept: ResNet takes no argument 'dept'; "
     "did you mean 'depth'?"),
    # failed after the runner was built (a traceback)
    (['param_scheduler.0.power=abc'],
     "error: param_scheduler.0.power: expected a finite number >= 0, got "
     "'abc'"),
])
def test_bad_options_stop_before_training(tmp_path, mini_data_dir, extra,
                                          expected):
    out = _run(['tools/train.py', 'configs/source_only/mini.py',
                '--work-dir', str(tmp_path / 'wd'), '--cfg-options', *FAST,
                *extra], mini_data_dir)
    assert out.returncode == 1
    assert out.stderr.strip() == expected
    assert not (tmp_path / 'wd').exists()


def test_work_dir_that_cannot_be_created(tmp_path, mini_data_dir):
    (tmp_path / 'afile').write_text('x')
    out = _run(['tools/train.py', 'configs/source_only/mini.py',
                '--work-dir', str(tmp_path / 'afile' / 'wd')], mini_data_dir)
    assert out.returncode == 1
    assert out.stderr.strip() == (f'error: work dir {tmp_path}/afile/wd '
                                  'cannot be created: Not a directory')


def test_test_tool_refuses_checkpoints_that_do_not_fit(tmp_path,
                                                       mini_data_dir):
    import numpy as np
    other = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict={'backbone.stem.0.weight': torch.ones(3)}),
               other)
    foreign = str(tmp_path / 'foreign.pth')
    torch.save(dict(state_dict={}, meta=dict(mean=np.zeros(3))), foreign)
    out = _run(['tools/test.py', 'configs/source_only/mini.py', other,
                '--work-dir', str(tmp_path / 't')], mini_data_dir)
    assert out.returncode == 1
    line = _last_line(out)
    assert line.startswith(f'error: {other} does not fit the model: none of '
                           "its 1 tensors has a name of the model's ")
    assert 'summary:' not in out.stdout  # no score of random weights
    out = _run(['tools/test.py', 'configs/source_only/mini.py', foreign,
                '--work-dir', str(tmp_path / 't')], mini_data_dir)
    assert out.returncode == 1
    assert _last_line(out) == (
        f'error: {foreign}: refused by safe loading (weights_only=True): it '
        'holds pickled Python objects besides tensors and plain values, so it '
        "was not written by this project's tools")


def test_benchmark_resumes_a_run_that_failed_on_a_full_disk(tmp_path,
                                                            mini_data_dir):
    """Issue 21.4 with the real tools: the disk fills up while iteration
    4's checkpoint is written, so the run fails (``exception``); once the
    disk has room again, the next invocation resumes from the intact
    ``iter_2.pth`` instead of deleting it and training from scratch, and
    both attempts count in the compute."""
    from clst_mmseg.benchmark.store import ResultsStore
    configs = tmp_path / 'configs' / 'source_only'
    configs.mkdir(parents=True)
    once = tmp_path / 'disk_was_full'
    (configs / 'mini.py').write_text(open(_faulty(
        tmp_path, f"dict(type='FullDiskHook', at=4, once={str(once)!r})"
    )).read())
    overrides = {k: int(v) for k, v in (o.split('=') for o in FAST)
                 if k != 'randomness.seed'}
    overrides.update({'train_cfg.val_interval': 4,
                      '+val_dataloader.dataset.indices': 8,
                      'val_dataloader.batch_size': 8})
    suite = tmp_path / 'suite.py'
    suite.write_text(
        "tasks = ['mini']\nmethods = ['source_only']\nseeds = [3]\n"
        "device = 'cpu'\n"
        f"configs_root = {str(tmp_path / 'configs')!r}\n"
        f"results_dir = {str(tmp_path / 'results')!r}\n"
        f"work_dir = {str(tmp_path / 'work')!r}\n"
        f"overrides = {overrides!r}\n")
    out = _run(['tools/benchmark.py', str(suite)], mini_data_dir)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-3000:]
    store = ResultsStore(str(tmp_path / 'results'))
    (rec, ) = store.records('mini')
    work = tmp_path / 'work' / 'mini' / rec['run_id']
    assert (rec['status'], rec['reason']['kind']) == ('failed', 'exception')
    assert 'error: disk full while writing' in rec['reason']['message']
    assert (work / 'iter_2.pth').exists()
    out = _run(['tools/benchmark.py', str(suite), '--dry-run'])
    assert out.stdout.splitlines()[-2].split()[0] == 'resume', out.stdout
    out = _run(['tools/benchmark.py', str(suite)], mini_data_dir)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    (rec, ) = store.records('mini')
    assert rec['status'] == 'finished' and rec['resumed'] is True
    assert rec['checkpoint']['iteration'] == 4
    assert 'Advance dataloader 2 steps' in (work / 'train.log').read_text()
    (failed, ) = rec['attempts']
    assert failed['reason']['kind'] == 'exception'
    assert rec['compute_time_s'] == pytest.approx(rec['wall_time_s'] +
                                                  failed['wall_time_s'])
