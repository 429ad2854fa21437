"""What the tools do for a user before anything trains: AMP on a CPU-only
machine, vis backends, torch threads, mmseg's inference API on our models,
test-time augmentation."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import VISBACKENDS, init_default_scope
from mmengine.visualization import Visualizer

import clst_mmseg  # noqa: F401
from clst_mmseg.apis import config_amp_error, load_config, prepare_run
from clst_mmseg.apis import threads as threads_module
from clst_mmseg.apis.vis_backends import check_vis_backends
from conftest import ROOT

CPU_ONLY = not torch.cuda.is_available()


def test_amp_set_in_a_config_without_cuda_is_one_line():
    line = ('--amp: no GPU here, and float16 autocast needs one; on the CPU '
            'ask for bfloat16 explicitly: --cfg-options '
            '+optim_wrapper.dtype=bfloat16')
    msg = config_amp_error(dict(type='AmpOptimWrapper', loss_scale='dynamic',
                                optimizer=dict(type='AdamW')), 'cpu')
    assert msg == line
    # nested wrappers (the discriminators' own optimizer) count too
    assert config_amp_error(dict(
        type='OptimWrapper', discriminators=dict(type='AmpOptimWrapper')),
        'cpu') == line
    # bf16, plain wrappers and GPUs are fine
    assert config_amp_error(dict(type='AmpOptimWrapper', dtype='bfloat16'),
                            'cpu') is None
    assert config_amp_error(dict(type='OptimWrapper'), 'cpu') is None
    assert config_amp_error(dict(type='AmpOptimWrapper'), 'cuda') is None


def test_vis_backends_by_name_reach_mmengine(tmp_path):
    cfg = load_config(
        f'{ROOT}/configs/source_only/mini.py',
        {'visualizer.vis_backends': ['LocalVisBackend',
                                     'TensorboardVisBackend']})
    assert cfg.visualizer.vis_backends == [
        dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')
    ]
    vis = Visualizer(name='test_vis_backends', save_dir=str(tmp_path),
                     vis_backends=cfg.visualizer.vis_backends)
    assert type(vis.get_backend('TensorboardVisBackend')) is \
        VISBACKENDS.get('TensorboardVisBackend')


def test_missing_logger_package_is_one_line(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec', lambda name, *a:
        None if name in ('tensorboard', 'tensorboardX') else real(name, *a))
    cfg = Config(dict(visualizer=dict(vis_backends=[
        dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])))
    with pytest.raises(ValueError) as err:
        check_vis_backends(cfg)
    assert str(err.value) == (
        'visualizer.vis_backends.1: TensorboardVisBackend needs the '
        "tensorboard package, which is not installed (pip install -e "
        "'.[tensorboard]')")
    cfg.visualizer.vis_backends[1] = dict(type='TensorbordVisBackend')
    with pytest.raises(ValueError, match=r"^visualizer.vis_backends.1: "
                       r"unknown vis backend 'TensorbordVisBackend'"):
        check_vis_backends(cfg)


def test_tensorboard_writes_events_when_installed(tmp_path):
    pytest.importorskip('tensorboard')
    cfg = load_config(f'{ROOT}/configs/source_only/mini.py', {
        'visualizer.vis_backends': ['LocalVisBackend',
                                    'TensorboardVisBackend']
    })
    check_vis_backends(cfg)
    vis = Visualizer(name='test_tb_events', save_dir=str(tmp_path),
                     vis_backends=cfg.visualizer.vis_backends)
    vis.add_scalars(dict(loss=1.0), step=1)
    vis.close()
    assert any(f.startswith('events.out.tfevents')
               for f in os.listdir(tmp_path))


def test_tool_threads_follow_the_runner_rule(monkeypatch):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads_module, '_cgroup_cores', lambda: None)
    assert threads_module.cpu_threads(1) == 4
    assert threads_module.cpu_threads(2) == 2
    monkeypatch.setattr(threads_module, '_cgroup_cores', lambda: 3)
    assert threads_module.available_cores() == 3  # a container's quota
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    assert threads_module.set_tool_threads() is None  # the user decided


def test_cgroup_quota_is_read(tmp_path, monkeypatch):
    cpu_max = tmp_path / 'cpu.max'
    monkeypatch.setattr(threads_module, '_CGROUP_V2', str(cpu_max))
    cpu_max.write_text('150000 100000\n')
    assert threads_module._cgroup_cores() == 2
    cpu_max.write_text('max 100000\n')
    assert threads_module._cgroup_cores() is None


def test_uda_models_take_init_model_keys_and_refuse_real_ones():
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = load_config(f'{ROOT}/configs/clst/mini.py')
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CLST' and model.out_channels == 7
    cfg.model.pretrained = 'some.pth'
    with pytest.raises(ValueError, match=r"^model.pretrained: CLST does not "
                       r"take 'pretrained'; set it on the wrapped segmentor"):
        MODELS.build(cfg.model)


def test_tta_undoes_the_flip_and_averages_softmax():
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    init_default_scope('mmseg')
    cfg = load_config(f'{ROOT}/configs/self_training/mini.py')
    tta = MODELS.build(dict(type='SegTTAModel', module=cfg.model)).eval()
    img = torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)

    def sample(flip):
        s = SegDataSample(gt_sem_seg=PixelData(
            data=torch.zeros(1, 64, 64, dtype=torch.long)))
        s.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64),
                            pad_shape=(64, 64), flip=flip,
                            flip_direction='horizontal' if flip else None,
                            img_path='x.png'))
        return s

    views = dict(inputs=[[img], [img.flip(-1)]],
                 data_samples=[[sample(False)], [sample(True)]])
    with torch.no_grad():
        (merged, ) = tta.test_step(views)
        module = tta.module
        a = module.test_step(dict(inputs=[img], data_samples=[sample(False)]))
        b = module.test_step(
            dict(inputs=[img.flip(-1)], data_samples=[sample(True)]))
    # each view's logits come back in the image's own frame
    probs = (a[0].seg_logits.data.softmax(0) +
             b[0].seg_logits.data.softmax(0)) / 2
    assert torch.equal(merged.pred_sem_seg.data[0], probs.argmax(0))
    flipped_back = module.test_step(dict(inputs=[img.flip(-1)],
                                         data_samples=[sample(False)]))
    assert torch.allclose(b[0].seg_logits.data,
                          flipped_back[0].seg_logits.data.flip(-1))


def test_mmseg_apis_import_first_through_the_startup_hook(tmp_path):
    """``from mmseg.apis import ...`` before ``import clst_mmseg`` works on
    mmcv-lite once ``clst_mmseg_mmcv_lite.pth`` is in site-packages (as
    setup.py installs it; here a temporary site dir)."""
    setup_text = open(osp.join(ROOT, 'setup.py')).read()
    line = 'import clst_mmseg_mmcv_lite; clst_mmseg_mmcv_lite.install()'
    assert repr(line + '\n') in setup_text  # what setup.py installs
    (tmp_path / 'clst_mmseg_mmcv_lite.pth').write_text(line + '\n')
    code = ('import site, sys; site.addsitedir(sys.argv[1]); '
            'from mmseg.apis import init_model, inference_model; '
            'import mmcv.ops, clst_mmseg; '
            "print(type(mmcv.ops).__name__, 'clst_mmseg' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, '-c', code, str(tmp_path)],
                         cwd=ROOT, env=env, text=True, capture_output=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = 'Ops True' if clst_mmseg.compat.mmcv_has_compiled_ops() \
        else '_LiteOps True'
    assert out.stdout.strip().endswith(expected), out.stdout


def test_prepare_run_checks_vis_backends():
    cfg = load_config(f'{ROOT}/configs/source_only/mini.py',
                      {'visualizer.vis_backends': ['NoSuchVisBackend']})
    with pytest.raises(ValueError, match='^visualizer.vis_backends.0: '
                       "unknown vis backend 'NoSuchVisBackend'"):
        prepare_run(cfg, verify=False)


def test_our_metric_does_not_warn_about_a_prefix(monkeypatch):
    import mmengine.evaluator.metric as metric_module

    from clst_mmseg.evaluation import SubsetIoUMetric
    logged = []
    monkeypatch.setattr(metric_module, 'print_log',
                        lambda msg, *a, **k: logged.append(msg))
    metric = SubsetIoUMetric()
    assert metric.prefix == '' and logged == []


@pytest.mark.slow
def test_make_mini_tool_has_no_runpy_warning(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, 'tools/make_mini.py', '--root',
                          str(tmp_path / 'mini')], cwd=ROOT, env=env,
                         text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'RuntimeWarning' not in out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(tmp_path / 'mini')


def test_logging_backends_do_not_change_a_runs_identity():
    from clst_mmseg.benchmark.identity import config_hash, resolve_config
    config = f'{ROOT}/configs/source_only/mini.py'
    base = config_hash(resolve_config(config))
    with_tb = config_hash(resolve_config(config, {
        'visualizer.vis_backends': ['LocalVisBackend',
                                    'TensorboardVisBackend']}))
    assert with_tb == base  # finished runs are reused
    assert config_hash(resolve_config(config, {'+model.init_cfg': None,
                                               'train_cfg.max_iters': 9}
                                      )) != base


@pytest.mark.slow
def test_wheels_install_the_startup_hook(tmp_path):
    """Regular and editable (PEP 660) wheels put clst_mmseg_mmcv_lite.pth
    at the top of site-packages."""
    import shutil
    import zipfile
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'clst_mmseg_mmcv_lite.py'):
        shutil.copy(osp.join(ROOT, name), src / name)
    shutil.copytree(osp.join(ROOT, 'clst_mmseg'), src / 'clst_mmseg',
                    ignore=shutil.ignore_patterns('__pycache__'))
    wheels = tmp_path / 'wheels'
    out = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '-q', '-w', str(wheels), str(src)],
        text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    code = ('import sys; from setuptools import build_meta; '
            'print(build_meta.build_editable(sys.argv[1]))')
    out = subprocess.run([sys.executable, '-c', code, str(wheels)],
                         cwd=src, text=True, capture_output=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    line = b'import clst_mmseg_mmcv_lite; clst_mmseg_mmcv_lite.install()\n'
    found = {}
    for wheel in wheels.glob('*.whl'):
        with zipfile.ZipFile(wheel) as z:
            found['editable' in wheel.name] = z.read(
                'clst_mmseg_mmcv_lite.pth')
    assert found == {False: line, True: line}
