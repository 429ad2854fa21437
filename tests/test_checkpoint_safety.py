"""Checkpoints and training under faults, in-process with a toy model:
atomic writes (a disk that fills up mid-save leaves the previous checkpoint
and ``last_checkpoint`` intact), one-line load errors (refused by safe
loading, truncated, empty), the ``--resume`` fallback, the fit check of
``tools/test.py`` and the non-finite check of every training step."""
import errno
import json
import os
import os.path as osp
import types

import pytest
import torch
import torch.nn as nn
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

import clst_mmseg  # noqa: F401  (compat layer)
import mmengine.runner.runner as runner_module
from clst_mmseg.apis import apply_resume, check_fits, one_line_errors
from clst_mmseg.compat import CheckpointError
from clst_mmseg.engine.hooks import NonFiniteCheckHook
from clst_mmseg.engine.hooks.non_finite_check_hook import NonFiniteError


class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.bn(self.lin(inputs))
        if mode == 'loss':
            return dict(loss_mse=out.pow(2).mean())
        return out


class _Data(Dataset):

    def __len__(self):
        return 64

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i % 5), 1.0]))


class _Poison(Hook):
    """Fills the linear weight (``loss``: the next loss is NaN) or the BN
    running mean (only the weights go bad) with NaN after iteration
    ``at``."""
    priority = 'LOWEST'

    def __init__(self, at, loss=True):
        self.at, self.loss = at, loss

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                target = runner.model.lin.weight if self.loss else \
                    runner.model.bn.running_mean
                target.fill_(float('nan'))


def _runner(work_dir, iters=4, hooks=()):
    return Runner(
        model=_Toy(), work_dir=str(work_dir),
        train_dataloader=DataLoader(_Data(), batch_size=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[NonFiniteCheckHook(), *(_Poison(**h) for h in hooks)],
        default_scope='mmseg')


def _pointer(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


def test_disk_full_mid_save_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    real_put = LocalBackend.put
    monkeypatch.setattr(LocalBackend, 'put', real_put)  # restored after

    runner = _runner(tmp_path)

    def put(self, obj, filepath):
        if runner.iter + 1 >= 3:
            with open(filepath, 'wb') as f:  # half of it, then the disk is
                f.write(obj[:len(obj) // 2])  # full
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put)
    with pytest.raises(OSError) as err:
        runner.train()
    assert err.value.errno == errno.ENOSPC
    assert err.value.filename == str(tmp_path / 'iter_3.pth')
    assert sorted(f for f in os.listdir(tmp_path) if 'pth' in f) == [
        'iter_1.pth', 'iter_2.pth']  # no partial iter_3, no temp file
    assert _pointer(tmp_path) == 'iter_2.pth'
    ckpt = torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 2
    # ... and the tools say it in one line
    with pytest.raises(SystemExit) as stop:
        with one_line_errors():
            raise err.value
    assert str(stop.value) == (f'error: disk full while writing '
                               f'{tmp_path}/iter_3.pth (No space left on '
                               'device)')


def test_non_finite_loss_stops_at_its_iteration(tmp_path):
    runner = _runner(tmp_path, iters=6, hooks=[dict(at=2)])
    with pytest.raises(NonFiniteError) as err:
        runner.train()
    assert str(err.value) == 'non-finite loss: loss_mse = nan at iteration 3'
    marker = json.loads((tmp_path / 'non_finite.json').read_text())
    assert marker == dict(where='loss', iter=3, key='loss_mse',
                          value='nan', rank=0)
    assert _pointer(tmp_path) == 'iter_2.pth'  # nothing after it is kept


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    # a NaN running mean: every loss stays finite, the weights do not
    runner = _runner(tmp_path, iters=4, hooks=[dict(at=2, loss=False)])
    with pytest.raises(NonFiniteError) as err:
        runner.train()
    assert str(err.value) == ('non-finite weights: bn.running_mean holds NaN '
                              'or inf at iteration 3; the checkpoint was '
                              'not written')
    assert not (tmp_path / 'iter_3.pth').exists()
    assert _pointer(tmp_path) == 'iter_2.pth'
    marker = json.loads((tmp_path / 'non_finite.json').read_text())
    assert (marker['where'], marker['iter'], marker['key']) == (
        'weights', 3, 'bn.running_mean')


def test_hook_ignores_non_loss_values_and_finite_losses(tmp_path):
    hook = NonFiniteCheckHook()
    runner = types.SimpleNamespace(iter=0, work_dir=str(tmp_path), rank=0)
    hook.after_train_iter(runner, 0, outputs=dict(
        loss=torch.tensor(1.0), acc_seg=torch.tensor(float('nan')),
        pseudo_coverage=float('nan')))
    with pytest.raises(NonFiniteError, match='decode.loss_ce = inf at '):
        hook.after_train_iter(runner, 0, outputs=dict(
            loss=torch.tensor(float('inf')),
            **{'decode.loss_ce': torch.tensor(float('inf'))}))


class _Evil:

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (open, (self.flag, 'w'))


@pytest.mark.parametrize('kind', ['foreign', 'numpy', 'truncated', 'empty'])
def test_checkpoint_load_errors_are_one_line(tmp_path, kind):
    import numpy as np
    path = str(tmp_path / 'x.pth')
    flag = tmp_path / 'executed'
    if kind == 'foreign':
        torch.save(dict(state_dict={}, trap=_Evil(str(flag))), path)
    elif kind == 'numpy':
        torch.save(dict(meta=dict(x=np.zeros(2))), path)
    else:
        torch.save(dict(state_dict=dict(w=torch.ones(100))), path)
        data = open(path, 'rb').read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2] if kind == 'truncated' else b'')
    for load in (runner_module._load_checkpoint,  # resume, load_from, test
                 lambda p: check_fits(_Toy(), p)):
        with pytest.raises(CheckpointError) as err:
            load(path)
        msg = str(err.value)
        assert '\n' not in msg and 'weights_only=False' not in msg
        if kind in ('foreign', 'numpy'):
            assert msg == (f'{path}: refused by safe loading '
                           '(weights_only=True): it holds pickled Python '
                           'objects besides tensors and plain values, so it '
                           "was not written by this project's tools")
        elif kind == 'truncated':
            assert msg == (f'{path}: truncated or corrupt checkpoint '
                           '(PytorchStreamReader failed reading zip archive: '
                           'failed finding central directory)')
        else:
            assert msg == f'{path}: truncated or corrupt checkpoint (empty ' \
                'file)'
    assert not flag.exists()  # nothing in the file was executed


def _cfg(work_dir, load_from=None):
    from mmengine.config import Config
    return Config(dict(work_dir=str(work_dir), load_from=load_from,
                       resume=False))


def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path):
    for it in (2, 4, 6):
        torch.save(dict(state_dict=dict(w=torch.ones(3) * it)),
                   tmp_path / f'iter_{it}.pth')
    data = (tmp_path / 'iter_6.pth').read_bytes()
    (tmp_path / 'iter_6.pth').write_bytes(data[:50])  # truncated
    (tmp_path / 'iter_4.pth').write_bytes(b'')  # empty
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_6.pth'))
    lines = []
    cfg = _cfg(tmp_path)
    apply_resume(cfg, True, echo=lines.append)
    assert cfg.load_from == str(tmp_path / 'iter_2.pth') and cfg.resume
    assert lines == [
        f'resume: passed over 2 checkpoint(s) that do not load '
        f'({tmp_path}/iter_6.pth: truncated or corrupt checkpoint '
        '(PytorchStreamReader failed reading zip archive: failed finding '
        'central directory); kept as iter_6.pth.corrupt; '
        f'{tmp_path}/iter_4.pth: truncated or corrupt checkpoint (empty '
        'file); kept as iter_4.pth.corrupt); resuming from '
        f'{tmp_path}/iter_2.pth']
    assert sorted(os.listdir(tmp_path)) == [
        'iter_2.pth', 'iter_4.pth.corrupt', 'iter_6.pth.corrupt',
        'last_checkpoint']  # nothing deleted
    # nothing loads: train from the start (mmengine would follow the stale
    # last_checkpoint into a missing file)
    (tmp_path / 'iter_2.pth').write_bytes(b'')
    lines.clear()
    cfg = _cfg(tmp_path)
    apply_resume(cfg, True, echo=lines.append)
    assert cfg.load_from is None and cfg.resume is False
    assert lines[0].endswith('no checkpoint loads: training from the start')


def test_resume_without_problems_says_nothing(tmp_path, monkeypatch):
    torch.save(dict(state_dict={}), tmp_path / 'iter_2.pth')
    lines = []
    cfg = _cfg(tmp_path)
    apply_resume(cfg, True, echo=lines.append)
    assert cfg.load_from == str(tmp_path / 'iter_2.pth') and lines == []
    cfg = _cfg(tmp_path)
    apply_resume(cfg, False, echo=lines.append)
    assert cfg.load_from is None and cfg.resume is False
    # other ranks pick the same file and rename nothing
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    monkeypatch.setenv('RANK', '1')
    cfg = _cfg(tmp_path)
    apply_resume(cfg, True, echo=lines.append)
    assert cfg.load_from == str(tmp_path / 'iter_2.pth') and lines == []
    assert (tmp_path / 'iter_4.pth').exists()


def test_checkpoint_that_does_not_fit_the_model(tmp_path):
    model = _Toy()
    own = model.state_dict()
    path = str(tmp_path / 'c.pth')
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.ones(2)}),
               path)
    with pytest.raises(CheckpointError) as err:
        check_fits(model, path)
    assert str(err.value) == (
        f"{path} does not fit the model: none of its 1 tensors has a name of "
        f"the model's {len(own)} (e.g. 'backbone.conv1.weight' vs "
        "'lin.weight')")
    torch.save(dict(state_dict={'module.lin.weight': torch.ones(3, 2)}),
               path)
    with pytest.raises(CheckpointError) as err:
        check_fits(model, path)
    assert str(err.value) == (f'{path} does not fit the model: 1 tensor(s) '
                              'differ in shape, e.g. lin.weight: (3, 2) in '
                              'the checkpoint, (1, 2) in the model')
    bad = dict(own)
    bad['lin.bias'] = torch.tensor([float('inf')])
    torch.save(dict(state_dict=bad), path)
    with pytest.raises(CheckpointError) as err:
        check_fits(model, path)
    assert str(err.value) == (f'non-finite weights in {path}: lin.bias holds '
                              'NaN or inf')
    torch.save(dict(state_dict=own), path)
    check_fits(model, path)  # fits


def _resume(work_dir):
    """``apply_resume`` on a fresh config: ``(cfg, the lines printed)``."""
    lines = []
    cfg = _cfg(work_dir)
    apply_resume(cfg, True, echo=lines.append)
    return cfg, lines


def test_resume_never_follows_last_checkpoint_out_of_the_work_dir(tmp_path):
    """A copied work dir's ``last_checkpoint`` still holds the original's
    absolute path: the copy resumes from its own file of that name, and
    nothing in the original is loaded or renamed."""
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    original.mkdir()
    torch.save(dict(state_dict=dict(w=torch.ones(3))), original / 'iter_2.pth')
    (original / 'iter_4.pth').write_bytes(b'')  # broken in the original
    (original / 'last_checkpoint').write_text(str(original / 'iter_4.pth'))
    copy.mkdir()
    (copy / 'last_checkpoint').write_text(str(original / 'iter_4.pth'))
    torch.save(dict(state_dict=dict(w=torch.ones(3))), copy / 'iter_4.pth')
    cfg, lines = _resume(copy)
    assert cfg.load_from == str(copy / 'iter_4.pth') and cfg.resume
    assert lines == [
        f'resume: {copy}/last_checkpoint names {original}/iter_4.pth, '
        'outside the work dir (a copied or moved work dir?); using '
        f'{copy}/iter_4.pth instead']
    # without a file of that name in the copy: its own newest one
    os.replace(copy / 'iter_4.pth', copy / 'iter_3.pth')
    cfg, lines = _resume(copy)
    assert cfg.load_from == str(copy / 'iter_3.pth')
    assert lines[0].endswith('ignored: only checkpoints inside the work dir '
                             'are resumed from')
    # nothing of the copy loads: train from the start, original untouched
    (copy / 'iter_3.pth').write_bytes(b'')
    cfg, _ = _resume(copy)
    assert cfg.load_from is None and cfg.resume is False
    assert sorted(os.listdir(original)) == ['iter_2.pth', 'iter_4.pth',
                                            'last_checkpoint']


@pytest.mark.parametrize('state', ['empty', 'mistyped'])
def test_resume_with_nothing_to_resume_says_so(tmp_path, state):
    work = tmp_path / 'work'
    if state == 'empty':
        work.mkdir()
    cfg, lines = _resume(work)
    assert cfg.load_from is None and cfg.resume is False
    assert lines == [f'resume: nothing to resume in {work}; training from '
                     'the start']
