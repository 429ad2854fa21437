"""Tests of the compatibility layer (clst_mmseg/compat.py): one per
adaptation, each showing the upstream behaviour and our fix."""
import importlib
import io
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import clst_mmseg  # noqa: F401
from clst_mmseg import compat
from conftest import ROOT, free_port


# 1. mmcv.ops on mmcv-lite -----------------------------------------------------
def test_mmseg_models_import_and_mmcv_full_still_reported_missing():
    import mmseg.models  # noqa: F401  (imports mmcv.ops eagerly upstream)
    from mmengine.utils.dl_utils import mmcv_full_available
    assert not compat.mmcv_has_compiled_ops()
    assert mmcv_full_available() is False
    assert 'mmcv._ext' not in sys.modules
    assert importlib.util.find_spec('mmcv._ext') is None


def test_pure_pytorch_ops_are_mmcvs_own():
    from mmcv.ops import point_sample
    assert point_sample.__module__ == 'mmcv.ops.point_sample'
    feat = torch.arange(16.).view(1, 1, 4, 4)
    # the centre of pixel (row 1, col 2) in [0, 1] coordinates
    points = torch.tensor([[[2.5 / 4, 1.5 / 4]]])
    out = point_sample(feat, points, align_corners=False)
    assert out.item() == pytest.approx(6.0)


def test_compiled_op_raises_clear_error_when_used():
    from mmcv.ops import SyncBatchNorm, sigmoid_focal_loss
    with pytest.raises(compat.CompiledOpUnavailable,
                       match=r'mmcv\.ops\.sigmoid_focal_loss.*mmcv\._ext.*'
                       r'mim install'):
        sigmoid_focal_loss(torch.zeros(1, 2), torch.zeros(1).long())
    with pytest.raises(compat.CompiledOpUnavailable, match='SyncBatchNorm'):
        SyncBatchNorm(4)
    # isinstance checks in mmengine (revert_sync_batchnorm) keep working
    assert not isinstance(torch.nn.BatchNorm2d(2), SyncBatchNorm)


def test_unknown_name_is_attribute_error():
    import mmcv.ops
    with pytest.raises(AttributeError, match='no_such_op'):
        mmcv.ops.no_such_op


def test_layer_does_nothing_with_full_mmcv(monkeypatch):
    sentinel = object()
    monkeypatch.setitem(sys.modules, 'mmcv.ops', sentinel)
    monkeypatch.setattr(compat, 'mmcv_has_compiled_ops', lambda: True)
    assert compat.install_lite_mmcv_ops() is False
    assert sys.modules['mmcv.ops'] is sentinel


# 2. checkpoints and weights_only=True ------------------------------------------
def _message_hub_state():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_compat_hub')
    for i in range(3):
        hub.update_scalar('train/loss', np.float64(1.0 / (i + 1)))
    hub.update_info('iter', 3)
    hub.update_info('np_value', np.int64(7))
    return hub


def test_upstream_message_hub_is_rejected_by_safe_loader():
    buf = io.BytesIO()
    torch.save({'message_hub': _message_hub_state().state_dict()}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf, weights_only=True)


def test_encoded_message_hub_round_trips_through_safe_loader():
    from mmengine.logging import HistoryBuffer
    hub = _message_hub_state()
    state = hub.state_dict()
    buf = io.BytesIO()
    torch.save({'message_hub': compat.encode_plain(state)}, buf)
    buf.seek(0)
    loaded = compat.decode_plain(
        torch.load(buf, weights_only=True)['message_hub'])
    loss = loaded['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    np.testing.assert_array_equal(
        loss._log_history, state['log_scalars']['train/loss']._log_history)
    assert loss.mean() == pytest.approx((1 + 0.5 + 1 / 3) / 3)
    assert loaded['runtime_info']['np_value'] == 7
    assert isinstance(loaded['runtime_info']['np_value'], np.int64)


def test_url_loading_is_safe(tmp_path):
    """mmengine's http/torchvision loader goes through
    torch.hub.load_state_dict_from_url, whose weights_only defaults to
    False upstream: a pickle that runs code must be refused."""
    import mmengine.runner.checkpoint as ckpt

    class Evil:

        def __reduce__(self):
            return (os.system, ('echo pwned > ' + str(tmp_path / 'pwned'),))

    evil = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, evil)
    with pytest.raises(pickle.UnpicklingError):
        ckpt.load_from_http(evil.as_uri(), model_dir=str(tmp_path / 'hub'))
    assert not (tmp_path / 'pwned').exists()
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.ones(2)}, good)
    out = ckpt.load_from_http(good.as_uri(), model_dir=str(tmp_path / 'hub2'))
    assert torch.equal(out['w'], torch.ones(2))


# 3. distributed on the CPU -------------------------------------------------------
def test_ddp_wrapper_drops_device_ids_for_cpu_modules(tmp_path):
    """Upstream passes device_ids=[LOCAL_RANK]; DDP refuses that for a CPU
    module. A 1-process gloo group is enough to show it."""
    script = textwrap.dedent(f"""
        import os
        os.environ.update(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
                          MASTER_ADDR='127.0.0.1', MASTER_PORT='29533')
        import torch
        import clst_mmseg
        from mmengine.dist import init_dist
        from mmengine.model import MMDistributedDataParallel
        init_dist('pytorch', backend='nccl')   # upstream: cuda.set_device
        assert torch.distributed.get_backend() == 'gloo'
        # upstream: device_ids=[LOCAL_RANK], rejected for CPU modules
        ddp = MMDistributedDataParallel(
            module=torch.nn.Conv2d(1, 2, 1), device_ids=[0])
        assert ddp.device_ids is None
        # upstream keeps SyncBN under DDP; it has no CPU kernel
        from types import SimpleNamespace
        from mmengine.config import Config
        from mmengine.runner import Runner
        runner = SimpleNamespace(distributed=True, cfg=Config(dict()))
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1),
                                  torch.nn.SyncBatchNorm(2))
        wrapped = Runner.wrap_model(runner, None, net)
        assert not any(isinstance(m, torch.nn.SyncBatchNorm)
                       for m in wrapped.modules())
        wrapped(torch.ones(2, 1, 3, 3)).sum().backward()
        # gloo's threads can abort the interpreter's exit ("terminate called
        # without an active exception") if the group is left open
        torch.distributed.destroy_process_group()
        print('OK')
    """)
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'OK' in out.stdout


# 5. exit after DDP -----------------------------------------------------------
_EXIT_SCRIPT = textwrap.dedent("""
    import atexit, os, sys
    os.environ.update(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=sys.argv[1])
    import torch
    import torch.distributed as dist
    from clst_mmseg.apis.config import close_distributed, exit_tool
    dist.init_process_group('gloo')
    ddp = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    ddp(torch.ones(1, 2)).sum().backward()
    atexit.register(lambda: print('exit handlers ran', flush=True))

    class Finalized:
        def __del__(self):
            print('finalized', flush=True)

    keep = Finalized()  # deleted by the interpreter's finalization only
    if sys.argv[2] == 'premise':
        close_distributed()
        names = {open(f'/proc/self/task/{t}/comm').read().strip()
                 for t in os.listdir('/proc/self/task')}
        print('gloo threads after close:', 'pt_gloo_runloop' in names,
              flush=True)
        sys.exit(0)
    exit_tool(int(sys.argv[2]) if sys.argv[2].isdigit() else sys.argv[2])
""")


@pytest.mark.parametrize('how', ['premise', '0', 'error: bad thing'])
def test_a_distributed_tool_exits_without_the_interpreters_finalization(
        how):
    """Under DDP, gloo's worker threads outlive destroy_process_group (the
    premise) and can abort the interpreter's finalization (SIGABRT,
    "terminate called without an active exception"): exit_tool runs the
    exit handlers, then ends the process without finalizing, with
    sys.exit's status and message."""
    out = subprocess.run(
        [sys.executable, '-c', _EXIT_SCRIPT, str(free_port()), how],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    lines = out.stdout.splitlines()
    if how == 'premise':
        assert out.returncode == 0, out.stderr[-2000:]
        assert lines == ['gloo threads after close: True',
                         'exit handlers ran', 'finalized']
        return
    assert lines == ['exit handlers ran']  # no 'finalized'
    if how == '0':
        assert out.returncode == 0, out.stderr[-2000:]
    else:
        assert out.returncode == 1
        assert out.stderr.strip().splitlines()[-1] == 'error: bad thing'


# 4. pkg_resources ------------------------------------------------------------------
def test_setuptools_pinned_for_pkg_resources():
    from importlib.metadata import version
    major = int(version('setuptools').split('.')[0])
    assert major < 82
    import mmengine.utils.package_utils  # noqa: F401  (imports it)
    importlib.import_module('pkg_resources')
