"""A short run as a user starts it (``--cfg-options train_cfg.max_iters=N``)
and its resume with another length, through tools/train.py: the schedule
follows N (said in one line), the loss is logged about ten times, every
table names its split, and the resume says what the other length
changes."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

# small batches; 2 trajectory points: validations at 4 and 8 of 8
COMMON = ['train_dataloader.batch_size=2', 'trajectory_points=2']


def _train(work, max_iters, mini_data_dir, *extra):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/self_training/mini.py',
         '--work-dir', str(work), *extra, '--cfg-options',
         f'train_cfg.max_iters={max_iters}', *COMMON], cwd=ROOT, env=env,
        text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def _warnings(text):
    return [ln.split(' - WARNING - ', 1)[1] for ln in text.splitlines()
            if ' - WARNING - ' in ln]


@pytest.fixture(scope='module')
def short_run(tmp_path_factory, mini_data_dir):
    """Self-training for 8 iterations: (work dir, console output)."""
    work = tmp_path_factory.mktemp('short') / 'st'
    return work, _train(work, 8, mini_data_dir)


def test_a_short_run_follows_its_length_and_names_its_tables(short_run):
    _, text = short_run
    assert ('schedule: train_cfg.max_iters 250 -> 8; param_scheduler.0.end '
            '(PolyLR) 250 -> 8; default_hooks.logger.interval 25 -> 1'
            ) in text.splitlines()
    assert len(re.findall(r'Iter\(train\) \[\s*\d+/8\]', text)) == 8
    assert re.findall(r'per class results.*', text) == [
        'per class results, target val (val_dataloader, 200 images):',
        'per class results, source val slice, not trained on '
        '(source_val_dataloader, 100 images):'
    ] * 2
    assert len(re.findall(r'subset results, (target|source) val', text)) \
        == 4


def test_a_resume_with_another_length_says_what_changes(
        short_run, tmp_path, mini_data_dir):
    work = tmp_path / 'st'
    shutil.copytree(short_run[0], work)
    # the copied work dir's last_checkpoint names the original's file
    (work / 'last_checkpoint').write_text(str(work / 'iter_8.pth'))
    warned = _warnings(_train(work, 12, mini_data_dir, '--resume'))
    start = warned.index(
        'resumed at iteration 8 with max_iters 12; the checkpoint was '
        'trained towards max_iters 8. From here on:')
    assert warned[start + 1:start + 5] == [
        "  param_scheduler.0 (PolyLR) ends at the checkpoint's 8, not at the "
        "config's 12 (mmengine restores a scheduler's state on resume): the "
        'learning rate stays 0 up to iteration 12',
        '  (a longer schedule is a new run; load_from=CKPT starts a fresh '
        'schedule from its weights)',
        '  SelfTraining: self-training from iteration 3 (was 2)',
        '  validations (trajectory points) every 6 iterations (was 4): at 12'
    ]
    # a resume with the same length says nothing of the kind
    work2 = tmp_path / 'again'
    _train(work2, 4, mini_data_dir)
    assert not any(w.startswith('resumed at') for w in _warnings(
        _train(work2, 4, mini_data_dir, '--resume')))
