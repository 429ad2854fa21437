"""The method check (clst_mmseg.apis.method_check, tools/check_method.py):
state snapshots and their comparison, the short run's config, a method
that keeps state outside its checkpoint caught and named, and every shipped
method (and the example) passing every check."""
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn

from clst_mmseg.apis.method_check import (CheckSettings, check_method,
                                          short_run_options)
from clst_mmseg.apis.method_check import state as st
from conftest import ROOT

#: Every method's mini config (new method folders join automatically) and
#: the example outside the package.
METHOD_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*', 'mini.py'))
    if '/benchmarks/' not in p) + ['examples/fda/mini.py']
#: Small enough for seconds per method, long enough for warm-ups to end
#: (a quarter of 4 iterations) and for a resume in the middle.
QUICK = CheckSettings(iters=4, resume_at=2, batch_size=2, val_images=4,
                      target_images=8, verify_labels=2)


class _Counter(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        self.register_buffer('kept', torch.zeros(()))
        self.register_buffer('lost', torch.zeros(()), persistent=False)
        self.steps = 0
        self.history = [np.zeros(2)]


def test_model_state_names_every_kind_of_state():
    model = _Counter()
    state = st.model_state(model)
    assert {'param:conv.weight', 'param:conv.bias', 'buffer:kept',
            'buffer:lost', 'attr:/steps', 'attr:/history#len',
            'attr:/history[0]'} <= set(state)
    # nn.Module's own bookkeeping is not state
    assert not [k for k in state if '_forward_hooks' in k or
                k == 'attr:/training']
    before = st.model_state(model)
    model.steps += 1
    model.history[0][1] = 3.0
    model.lost += 1
    diff = st.differences(before, st.model_state(model))
    assert diff == ['attr:/history[0]', 'attr:/steps', 'buffer:lost']
    assert st.owners(diff) == ['attr:/history', 'attr:/steps',
                               'buffer:lost']
    assert [st.describe(p) for p in st.owners(diff)] == [
        'model.history', 'model.steps', 'model.lost']


def test_flatten_follows_objects_and_generators_but_not_networks():
    class Memory:
        def __init__(self):
            self.codes = torch.arange(3)
            self.rng = torch.Generator().manual_seed(1)
            self.net = nn.Linear(1, 1)  # a network: its own snapshot
            self.extra = {'a': (1, 2.5), 'b': None}

    out = {}
    st.flatten(Memory(), 'hook:H', out)
    assert sorted(out) == [
        'hook:H.codes', 'hook:H.extra#len', 'hook:H.extra.a#len',
        'hook:H.extra.a[0]', 'hook:H.extra.a[1]', 'hook:H.extra.b',
        'hook:H.rng'
    ]
    assert st.owner('hook:H.extra.a[1]') == 'hook:H.extra'
    assert st.describe('hook:H.extra') == 'H.extra'
    assert st.describe('rng:numpy') == 'the numpy random generator'
    nan = {'x': torch.tensor([float('nan'), 1.0])}
    assert st.differences(nan, {'x': torch.tensor([float('nan'), 1.0])}) \
        == []
    assert st.differences({'x': 1}, {'x': 1.0}) == ['x']  # type counts


def test_short_run_options_scale_the_schedule_and_add_new_keys():
    raw = Config.fromfile(osp.join(ROOT, 'configs', 'source_only', 'mini.py'),
                          import_custom_modules=False).to_dict()
    opts = short_run_options(raw, QUICK, 4, 2, checkpoint_interval=2)
    assert opts == {
        'train_cfg.max_iters': 4, 'train_cfg.val_interval': 2,
        'trajectory_points': 0, 'default_hooks.checkpoint.interval': 2,
        'default_hooks.checkpoint.max_keep_ckpts': -1,
        'default_hooks.logger.interval': 1, 'randomness.seed': 0,
        'param_scheduler.0.begin': 0, 'param_scheduler.0.end': 4,
        'train_dataloader.batch_size': 2,
        '+val_dataloader.dataset.indices': 4,
        '+test_dataloader.dataset.indices': 4,
        '+train_dataloader.dataset.target.indices': 8,
    }
    # a warm-up stays a warm-up; per-wrapper schedules are reached too
    raw['param_scheduler'] = dict(segmentor=[
        dict(type='LinearLR', begin=0, end=1500, by_epoch=False),
        dict(type='PolyLR', begin=1500, end=40000, by_epoch=False)
    ])
    raw['train_cfg']['max_iters'] = 40000
    opts = short_run_options(raw, QUICK, 40, 20)
    assert {k: v for k, v in opts.items() if 'scheduler' in k} == {
        'param_scheduler.segmentor.0.begin': 0,
        'param_scheduler.segmentor.0.end': 2,
        'param_scheduler.segmentor.1.begin': 2,
        'param_scheduler.segmentor.1.end': 40,
    }


LEAKY_MODULE = '''
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS, MODELS
from clst_mmseg.models.segmentors.uda_segmentor import UDASegmentor


@MODELS.register_module(force=True)
class LeakyMethod(UDASegmentor):
    """Counts its steps in a plain attribute and trains on it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = 0

    def loss(self, inputs, data_samples, target_inputs=None,
             target_data_samples=None):
        self.steps += 1
        losses = self.segmentor.loss(inputs, data_samples)
        losses['decode.loss_ce'] = losses['decode.loss_ce'] * self.steps
        return losses


@HOOKS.register_module(force=True)
class LeakyHook(Hook):
    """Counts steps, weighted by its rank, unsaved and unsynchronised."""

    def __init__(self):
        self.seen = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.seen += runner.rank + 1
'''


@pytest.mark.slow
def test_state_outside_the_checkpoint_is_named_with_what_to_add(
        tmp_path, mini_data_dir):
    folder = tmp_path / 'leaky'
    folder.mkdir()
    (folder / 'leaky_method.py').write_text(LEAKY_MODULE)
    (folder / 'mini.py').write_text(
        f"_base_ = ['{ROOT}/configs/source_only/mini.py']\n"
        "custom_imports = dict(imports=['clst_mmseg.registration', "
        "'leaky_method'], allow_failed_imports=False)\n"
        "model = dict(type='LeakyMethod')\n"
        "custom_hooks = _base_.common_custom_hooks + "
        "[dict(type='LeakyHook')]\n")
    results = {r.name: r for r in check_method(
        str(folder / 'mini.py'), str(tmp_path / 'work'), QUICK)}
    assert results['config'].ok and results['determinism'].ok
    resume, ckpt = results['resume'], results['checkpoint']
    assert not resume.ok and not ckpt.ok
    assert ckpt.reason == ('changes during training but is not restored from '
                           'the checkpoint: model.steps, LeakyHook.seen')
    assert ckpt.lines()[1] == (
        '    add: keep changing model state in buffers '
        '(self.register_buffer) or submodules, not plain attributes; save a '
        "hook's state in its before_save_checkpoint and restore it in "
        'after_load_checkpoint')
    # the weights follow the lost step count: the resumed run differs
    assert 'model.segmentor.' in resume.reason
    ddp = results['ddp']
    assert not ddp.ok
    assert ddp.reason.startswith('the ranks end with different '
                                 'LeakyHook.seen')
    assert 'gather every rank' in ddp.fix


@pytest.mark.slow
@pytest.mark.parametrize('config', METHOD_CONFIGS)
def test_every_method_passes_the_method_check(config, tmp_path,
                                              mini_data_dir):
    results = check_method(osp.join(ROOT, config), str(tmp_path), QUICK)
    lines = '\n'.join(line for r in results for line in r.lines())
    assert [r.name for r in results] == [
        'config', 'determinism', 'resume', 'checkpoint', 'pseudo-labels',
        'ddp'
    ]
    assert all(r.ok for r in results), lines


@pytest.mark.slow
def test_tool_prints_one_line_per_check_and_the_record(tmp_path,
                                                       mini_data_dir):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, 'tools/check_method.py', 'examples/fda/mini.py',
         '--iters', '2', '--val-images', '4', '--target-images', '8',
         '--no-ddp', '--work-dir', str(tmp_path / 'work')],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    checks = [ln.split(':')[0] for ln in out.stdout.splitlines()
              if ln[:2] in ('✓ ', '✗ ', '- ')]
    # (DDP is checked for every method by the test above)
    assert checks == ['✓ config', '✓ determinism', '✓ resume',
                      '✓ checkpoint', '✓ pseudo-labels', '- ddp',
                      '✓ record']
    assert 'no pseudo-labels: FDA recorded none' in out.stdout
    record = next(ln for ln in out.stdout.splitlines()
                  if ln.startswith('✓ record'))
    assert 'wrote a valid record: finished, mIoU' in record
    assert out.stdout.splitlines()[-2].startswith(
        '6 passed, 0 failed, 1 not run')
