"""Every checkpoint load passes ``weights_only=True`` itself: with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (which turns torch's default off) a
malicious pickle, whose ``__reduce__`` writes a marker file, executes
nothing on any load path, and each path stops with one line naming the
file. In-process for the library paths, ``tools/infer.py`` and the weight
converter; the training and test tools as subprocesses (slow)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import clst_mmseg  # noqa: F401  (compat layer)
import mmengine.runner.runner as runner_module
from clst_mmseg.apis import apply_resume, check_fits
from clst_mmseg.compat import CheckpointError, UnsafeCheckpointError
from conftest import ROOT
from mmengine.config import Config

REFUSED = ('refused by safe loading (weights_only=True): it holds pickled '
           'Python objects besides tensors and plain values')


class _Evil:
    """Unpickling it runs ``open(flag, 'w')``: the marker of executed
    code."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (open, (self.flag, 'w'))


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """``(checkpoint, marker)``: a checkpoint whose loading with
    ``weights_only=False`` creates ``marker``; torch's default is off."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    flag = tmp_path / 'EXECUTED'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2)), trap=_Evil(str(flag))),
               path)
    return str(path), flag


def _tool(path, name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_environment_variable_really_turns_the_default_off(evil):
    """The premise of this file: relying on torch's default would run the
    file's code."""
    path, flag = evil
    with pytest.warns(UserWarning, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'):
        torch.load(path)
    assert flag.exists()


def _library_paths(tmp_path):
    """name -> a call that loads a checkpoint file."""
    from mmengine.runner.checkpoint import (CheckpointLoader,
                                            _load_checkpoint,
                                            load_checkpoint)

    from clst_mmseg.models.pretrained_init import PretrainedIfAvailable

    def init_cfg(kind):
        def load(path):
            from mmengine.model import BaseModule
            module = BaseModule(init_cfg=dict(type=kind, checkpoint=path))
            module.lin = nn.Linear(2, 2)
            module.init_weights()
        return load

    return {
        # load_from, --resume and tools/test.py (the runner's loader)
        'runner': runner_module._load_checkpoint,
        # mmengine's scheme loader (tools/infer.py, Pretrained init)
        'CheckpointLoader': CheckpointLoader.load_checkpoint,
        'load_checkpoint': lambda p: load_checkpoint(nn.Linear(2, 2), p),
        '_load_checkpoint': _load_checkpoint,
        'init_cfg Pretrained': init_cfg('Pretrained'),
        'init_cfg PretrainedIfAvailable': init_cfg('PretrainedIfAvailable'),
        'PretrainedIfAvailable with prefix': lambda p: PretrainedIfAvailable(
            checkpoint=p, prefix='backbone')(nn.Linear(2, 2)),
        # tools/test.py's fit check
        'check_fits': lambda p: check_fits(nn.Linear(2, 2), p),
    }


@pytest.mark.parametrize('name', [
    'runner', 'CheckpointLoader', 'load_checkpoint', '_load_checkpoint',
    'init_cfg Pretrained', 'init_cfg PretrainedIfAvailable',
    'PretrainedIfAvailable with prefix', 'check_fits'
])
def test_library_paths_refuse_a_malicious_pickle(evil, tmp_path, name):
    path, flag = evil
    with pytest.raises(UnsafeCheckpointError) as err:
        _library_paths(tmp_path)[name](path)
    assert str(err.value).startswith(f'{path}: {REFUSED}')
    assert '\n' not in str(err.value)
    assert not flag.exists()


def test_resume_stops_at_a_malicious_checkpoint_and_keeps_it(evil, tmp_path):
    """Not a crash's leftover (truncated, empty: passed over) but a foreign
    file: the resume stops, the file stays where it is."""
    path, flag = evil
    work = tmp_path / 'work'
    work.mkdir()
    os.replace(path, work / 'iter_4.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2))), work / 'iter_2.pth')
    cfg = Config(dict(work_dir=str(work), load_from=None, resume=False))
    with pytest.raises(UnsafeCheckpointError,
                       match=f'^{work}/iter_4.pth: refused by safe'):
        apply_resume(cfg, True, echo=lambda line: None)
    assert sorted(os.listdir(work)) == ['iter_2.pth', 'iter_4.pth']
    assert not flag.exists()


def test_infer_tool_is_one_line_for_malicious_truncated_and_empty(
        evil, tmp_path, monkeypatch, mini_data_dir):
    path, flag = evil
    good = tmp_path / 'good.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(100))), good)
    data = good.read_bytes()
    (tmp_path / 'truncated.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'empty.pth').write_bytes(b'')
    image = tmp_path / 'image.png'
    from PIL import Image
    Image.new('RGB', (8, 8)).save(image)
    infer = _tool('tools/infer.py', 'infer_tool')
    expected = {
        path: f'error: {path}: {REFUSED}',
        str(tmp_path / 'truncated.pth'):
        f'error: {tmp_path}/truncated.pth: truncated or corrupt checkpoint '
        '(PytorchStreamReader failed reading zip archive: failed finding '
        'central directory)',
        str(tmp_path / 'empty.pth'):
        f'error: {tmp_path}/empty.pth: truncated or corrupt checkpoint '
        '(empty file)',
    }
    for ckpt, line in expected.items():
        monkeypatch.setattr(sys, 'argv', [
            'infer.py', osp.join(ROOT, 'configs/source_only/mini.py'), ckpt,
            str(image), '--out', str(tmp_path / 'out'), '--device', 'cpu'
        ])
        with pytest.raises(SystemExit) as exit_:
            infer.main()
        assert str(exit_.value.code).startswith(line), ckpt
        assert '\n' not in str(exit_.value.code)
    assert not flag.exists()
    assert not (tmp_path / 'out').exists()


def test_weight_converter_refuses_a_malicious_pickle(evil, tmp_path, capsys):
    path, flag = evil
    tool = _tool('tools/convert_weights/deeplabv2_resnet101.py',
                 'deeplabv2_resnet101_tool')
    assert tool.main([path, str(tmp_path / 'out.pth')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {path}: {REFUSED}') and '\n' not in err
    assert not flag.exists() and not (tmp_path / 'out.pth').exists()


@pytest.mark.slow
def test_training_and_test_tools_refuse_a_malicious_pickle(
        evil, tmp_path, mini_data_dir):
    """``load_from``, ``--resume`` and ``tools/test.py``, as a user runs
    them (the environment variable reaches the tools)."""
    path, flag = evil
    work = tmp_path / 'resume'
    work.mkdir()
    (work / 'iter_2.pth').write_bytes(open(path, 'rb').read())
    config = osp.join(ROOT, 'configs/source_only/mini.py')
    runs = {
        'load_from': ['tools/train.py', config, '--work-dir',
                      str(tmp_path / 'load_from'), '--cfg-options',
                      f'load_from={path}'],
        'resume': ['tools/train.py', config, '--work-dir', str(work),
                   '--resume'],
        'test': ['tools/test.py', config, path, '--work-dir',
                 str(tmp_path / 'test')],
    }
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    for name, args in runs.items():
        out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                             text=True, capture_output=True, timeout=300)
        assert out.returncode == 1, (name, out.stderr[-2000:])
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith('error: ') and REFUSED in last, (name, last)
        assert 'Traceback' not in out.stderr, name
        assert not flag.exists(), name
    assert sorted(os.listdir(work)) == ['iter_2.pth']
