"""Mixed precision (``--amp``) for every method: the device rule, one
mixed-precision wrapper (and loss scaler) per optimizer, bfloat16 training
steps on the CPU with finite losses, and the state that must stay float32
(parameters, DACS's EMA teacher, CLST's centroids and ensemble feed).
Slow: ``tools/train.py --amp`` on the CPU, with and without bfloat16."""
import copy
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.apis import amp_device_error, enable_amp
from clst_mmseg.engine.optimizers import BFloat16OptimWrapper
from conftest import ROOT
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

METHODS = ('source_only', 'oracle', 'adaptsegnet', 'advent', 'self_training',
           'self_training_cb', 'dacs', 'clst')
CPU_LINE = ('--amp: no GPU here, and float16 autocast needs one; on the CPU '
            'ask for bfloat16 explicitly: --cfg-options '
            '+optim_wrapper.dtype=bfloat16')
# every term of the method from the first step (no warm-up), and CLST's
# labels from the network itself (the ensemble needs its hook)
ACTIVE = dict(
    clst=dict(warmup_iters=0, warmup_ratio=None,
              pseudo_label_source='online', cl_target_labels='online'),
    self_training=dict(warmup_iters=0, warmup_ratio=None),
    self_training_cb=dict(warmup_iters=0, warmup_ratio=None))


def _cfg(method):
    return Config.fromfile(osp.join(ROOT, 'configs', method, 'mini.py'))


# the device rule -----------------------------------------------------------


def test_cpu_rule():
    assert amp_device_error(None, 'cpu') == CPU_LINE
    assert amp_device_error('float16', 'cpu') == \
        CPU_LINE + ' (got optim_wrapper.dtype=float16)'
    assert amp_device_error('bfloat16', 'cpu') is None
    assert amp_device_error(torch.bfloat16, 'cpu') is None
    for dtype in (None, 'float16', 'bfloat16'):
        assert amp_device_error(dtype, 'cuda') is None


def test_enable_amp_on_a_gpu_wraps_every_optimizer():
    cfg = _cfg('adaptsegnet')
    enable_amp(cfg, device='cuda')
    ow = cfg.optim_wrapper
    assert ow.type == ow.discriminators.type == 'AmpOptimWrapper'
    assert ow.loss_scale == ow.discriminators.loss_scale == 'dynamic'
    assert 'dtype' not in ow and 'dtype' not in ow.discriminators
    # the optimizers themselves are unchanged
    assert ow.optimizer == _cfg('adaptsegnet').optim_wrapper.optimizer
    assert ow.discriminators.optimizer.type == 'Adam'

    cfg = _cfg('source_only')
    cfg.optim_wrapper.dtype = 'bfloat16'
    enable_amp(cfg, device='cuda')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'


def test_enable_amp_on_the_cpu():
    cfg = _cfg('advent')
    with pytest.raises(ValueError) as e:
        enable_amp(cfg, device='cpu')
    assert str(e.value) == CPU_LINE
    cfg.optim_wrapper.dtype = 'bfloat16'
    enable_amp(cfg, device='cpu')
    ow = cfg.optim_wrapper
    assert ow.type == ow.discriminators.type == 'BFloat16OptimWrapper'
    assert ow.dtype == ow.discriminators.dtype == 'bfloat16'
    assert 'loss_scale' not in ow

    cfg = _cfg('adaptsegnet')
    cfg.optim_wrapper.dtype = 'bfloat16'
    cfg.optim_wrapper.discriminators.dtype = 'float16'
    with pytest.raises(ValueError) as e:
        enable_amp(cfg, device='cpu')
    assert 'optim_wrapper.discriminators.dtype=float16' in str(e.value)


def test_enable_amp_names_a_wrapper_without_amp_counterpart():
    cfg = _cfg('adaptsegnet')
    cfg.optim_wrapper.discriminators.type = 'ApexOptimWrapper'
    with pytest.raises(ValueError) as e:
        enable_amp(cfg, device='cuda')
    assert str(e.value) == ('optim_wrapper.discriminators.type: --amp needs '
                            'OptimWrapper, got ApexOptimWrapper')


def test_bfloat16_wrapper_refuses_other_dtypes():
    params = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match='bfloat16 only'):
        BFloat16OptimWrapper(dtype='float16',
                             optimizer=torch.optim.SGD(params, lr=1))


# training steps -------------------------------------------------------------


def _batch(n=2, size=64, seed=0):
    """A raw batch as the UDA dataloader gives it (uint8 images)."""
    g = torch.Generator().manual_seed(seed)

    def imgs():
        return [torch.randint(0, 256, (3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(n)]

    def samples(labelled):
        out = []
        for i in range(n):
            s = SegDataSample(metainfo=dict(
                img_shape=(size, size), ori_shape=(size, size),
                sample_idx=i))
            if labelled:
                s.gt_sem_seg = PixelData(data=torch.randint(
                    0, 7, (1, size, size), generator=g))
            out.append(s)
        return out

    return dict(inputs=imgs(), data_samples=samples(True),
                target_inputs=imgs(), target_data_samples=samples(False))


def _model_and_wrappers(method, device):
    from mmengine.optim import build_optim_wrapper
    cfg = _cfg(method)
    cfg.model.update(ACTIVE.get(method, {}))
    cfg.optim_wrapper.dtype = 'bfloat16'
    enable_amp(cfg, device=device)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def _float32_state(model):
    """Names of floating-point parameters and buffers not in float32."""
    return [n for n, t in [*model.named_parameters(), *model.named_buffers()]
            if t.is_floating_point() and t.dtype != torch.float32]


@pytest.mark.parametrize('method', METHODS)
def test_bfloat16_steps_on_the_cpu(method):
    """Three steps of every method under CPU bfloat16 autocast: the
    network computes in bfloat16, the losses are finite, and every
    parameter, buffer and optimizer state stays float32."""
    model, wrappers = _model_and_wrappers(method, 'cpu')
    parts = wrappers.values() if isinstance(wrappers, OptimWrapperDict) \
        else [wrappers]
    assert all(type(w) is BFloat16OptimWrapper for w in parts)
    if method in ('adaptsegnet', 'advent'):
        assert set(wrappers.keys()) == {'segmentor', 'discriminators'}

    seen = []
    model.segmentor.backbone.register_forward_hook(
        lambda m, i, out: seen.append(out[-1].dtype))
    centroid_inputs = []
    if method == 'clst':
        # (embedding dtypes, autocast on?) as the centroid loss sees them
        model.contrastive_loss.register_forward_pre_hook(
            lambda m, args: centroid_inputs.append(
                (args[0].dtype, args[2].dtype,
                 torch.is_autocast_enabled('cpu'))))
    start = copy.deepcopy(model.state_dict())
    for step in range(3):
        batch = _batch(seed=step)
        if method == 'self_training_cb':
            # CBST reads the round's labels that CBSTRoundHook writes
            for s in batch['target_data_samples']:
                s.gt_sem_seg = PixelData(data=torch.randint(
                    0, 7, (1, *s.img_shape)))
        log = model.train_step(batch, wrappers)
        for key, value in log.items():
            assert math.isfinite(float(torch.as_tensor(value).detach())), \
                (method, step, key)
    assert torch.bfloat16 in seen
    assert _float32_state(model) == []
    for w in parts:
        for state in w.optimizer.state.values():
            for value in state.values():
                if torch.is_tensor(value) and value.is_floating_point() \
                        and value.dim():
                    assert value.dtype == torch.float32
    moved = [k for k, v in model.state_dict().items()
             if v.is_floating_point() and not torch.equal(v, start[k])]
    assert any(k.startswith('segmentor.') for k in moved)
    if method in ('adaptsegnet', 'advent'):
        assert any(k.startswith('discriminators.') for k in moved)
        assert {'loss_adv_main', 'loss_d_main'} <= set(log)
    if method == 'dacs':
        assert int(model.teacher.step) == 3
        assert any(k.startswith('teacher.') for k in moved)
        assert 0 <= float(log['mix.pseudo_weight']) <= 1
    if method == 'clst':
        assert centroid_inputs == [(torch.float32, torch.float32, False)] * 3
        loss = model.contrastive_loss
        assert loss.src_centroids.dtype == loss.tgt_centroids.dtype == \
            torch.float32
        assert bool(loss.src_seen.any()) and float(
            loss.src_centroids.abs().sum()) > 0
        assert float(log['cl.weight']) == pytest.approx(model.cl_weight,
                                                        rel=0.01)
        assert 'cl.loss' in log
        feed = model.pop_ensemble_feed()
        assert feed['probs'].dtype == torch.float32
        torch.testing.assert_close(feed['probs'].sum(1),
                                   torch.ones_like(feed['probs'][:, 0]))


def test_gpu_wrappers_have_one_loss_scaler_per_optimizer(monkeypatch):
    """What ``--amp`` builds on a GPU (an AmpOptimWrapper per optimizer),
    built here by letting mmengine believe CUDA is there; torch's GradScaler
    then disables itself on the CPU, and mmengine's autocast runs bfloat16:
    the two-optimizer step goes through both wrappers, and each scaler is
    checkpointed on its own."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module
    monkeypatch.setattr(amp_module, 'is_cuda_available', lambda: True)
    with pytest.warns(UserWarning, match='CUDA is not available'):
        model, wrappers = _model_and_wrappers('adaptsegnet', 'cuda')
    seg, disc = wrappers['segmentor'], wrappers['discriminators']
    assert type(seg) is type(disc) is AmpOptimWrapper
    assert seg.loss_scaler is not disc.loss_scaler
    assert seg.cast_dtype == disc.cast_dtype == torch.bfloat16
    log = model.train_step(_batch(), wrappers)
    assert all(math.isfinite(float(torch.as_tensor(v).detach()))
               for v in log.values())
    state = wrappers.state_dict()
    assert {'loss_scaler'} <= set(state['segmentor'])
    assert {'loss_scaler'} <= set(state['discriminators'])
    assert _float32_state(model) == []


# tools/train.py -------------------------------------------------------------


def _train(args, mini_data_dir, timeout=300):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='',
               PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, 'tools/train.py', *args],
                          cwd=ROOT, env=env, text=True, capture_output=True,
                          timeout=timeout)


@pytest.mark.slow
def test_train_tool_amp_on_the_cpu(tmp_path, mini_data_dir):
    out = _train(['configs/adaptsegnet/mini.py', '--amp', '--work-dir',
                  str(tmp_path / 'refused')], mini_data_dir)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [f'error: {CPU_LINE}']
    assert not osp.exists(tmp_path / 'refused')

    # CLST with its ensemble hook, every term on from the first step
    opts = ['train_cfg.max_iters=3', 'train_cfg.val_interval=1000', 'trajectory_points=0',
            'param_scheduler.0.end=3', 'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
            '+optim_wrapper.dtype=bfloat16', 'model.warmup_ratio=0.0']
    out = _train(['configs/clst/mini.py', '--amp', '--work-dir',
                  str(tmp_path / 'clst'), '--cfg-options', *opts],
                 mini_data_dir)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "type='BFloat16OptimWrapper'" in log
    ckpt = torch.load(tmp_path / 'clst' / 'iter_3.pth', weights_only=True)
    assert all(v.dtype == torch.float32
               for v in ckpt['state_dict'].values() if v.is_floating_point())
    lines = [ln for ln in log.splitlines() if 'Iter(train) [3/3]' in ln]
    assert len(lines) == 1 and 'st.loss_ce' in lines[0], log[-3000:]
    values = [float(tok) for tok in lines[0].split()
              if tok.replace('.', '', 1).replace('e-', '', 1).isdigit()]
    assert values and all(math.isfinite(v) for v in values)
