"""The tools as a user meets them, on a mini checkpoint trained for a few
iterations: resuming another method's work dir, --amp on a CPU-only
machine, mmseg's inference API and tools/infer.py, tools/test.py --tta and
--show-dir."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from test_train_e2e import _run

pytestmark = pytest.mark.slow

FAST = [
    'train_cfg.max_iters=4', 'train_cfg.val_interval=1000', 'trajectory_points=0',
    'param_scheduler.0.end=4', 'default_hooks.checkpoint.interval=4',
    'train_dataloader.batch_size=2'
]


def _last_line(text):
    return [ln for ln in text.splitlines() if ln.strip()][-1]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, mini_data_dir):
    """A source-only checkpoint after 4 iterations."""
    work = tmp_path_factory.mktemp('source_only')
    out = _run(['tools/train.py', 'configs/source_only/mini.py',
                '--work-dir', str(work), '--cfg-options', *FAST],
               mini_data_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    return work


def test_resume_of_another_methods_work_dir_stops(trained, mini_data_dir):
    out = _run(['tools/train.py', 'configs/self_training/mini.py',
                '--work-dir', str(trained), '--resume', '--cfg-options',
                *FAST], mini_data_dir)
    assert out.returncode == 1
    assert 'Traceback' not in out.stderr
    assert _last_line(out.stderr).startswith(
        f'error: --resume: {trained}/iter_4.pth was written by another model '
        'or config (checkpoint -> now: model.type: UDASegmentor -> '
        'SelfTraining; ')
    assert sorted(f for f in os.listdir(trained) if f.endswith('.pth')) == [
        'iter_4.pth'
    ]
    meta = torch.load(trained / 'iter_4.pth', map_location='cpu',
                      weights_only=True)['meta']
    assert meta['clst_mmseg_identity']['model_type'] == 'UDASegmentor'


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only machines')
def test_amp_on_a_cpu_only_machine_is_one_line(tmp_path, mini_data_dir):
    out = _run(['tools/train.py', 'configs/source_only/mini.py', '--amp',
                '--work-dir', str(tmp_path / 'amp')], mini_data_dir)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert _last_line(out.stderr) == (
        'error: --amp: no GPU here, and float16 autocast needs one; on the '
        'CPU ask for bfloat16 explicitly: --cfg-options '
        '+optim_wrapper.dtype=bfloat16')


def test_infer_tool_and_mmseg_inference_api_agree(trained, tmp_path,
                                                  mini_data_dir):
    images = tmp_path / 'images'
    images.mkdir()
    val = osp.join(mini_data_dir, 'mini-v2-seed0', 'target', 'leftImg8bit',
                   'val', 'mini')
    names = sorted(os.listdir(val))[:3]
    for name in names:
        os.symlink(osp.join(val, name), images / name)
    out = _run(['tools/infer.py', 'configs/source_only/mini.py',
                str(trained / 'iter_4.pth'), str(images), '--out',
                str(tmp_path / 'out')], mini_data_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert '3/3' in out.stdout  # mmengine's progress bar
    assert sorted(os.listdir(tmp_path / 'out' / 'masks')) == names
    assert sorted(os.listdir(tmp_path / 'out' / 'overlays')) == names

    from mmseg.apis import inference_model, init_model
    model = init_model(f'{ROOT}/configs/source_only/mini.py',
                       str(trained / 'iter_4.pth'), device='cpu')
    palette = np.asarray(model.dataset_meta['palette'], np.uint8)
    for name in names:
        result = inference_model(model, str(images / name))
        pred = result.pred_sem_seg.data[0].numpy()
        mask = Image.open(tmp_path / 'out' / 'masks' / name)
        assert mask.mode == 'P' and mask.size == (64, 64)
        assert np.array_equal(np.array(mask), pred)  # pixel = class index
        colours = np.array(mask.convert('RGB')).reshape(-1, 3)
        assert np.array_equal(colours, palette[pred.reshape(-1)])
        overlay = Image.open(tmp_path / 'out' / 'overlays' / name)
        assert overlay.mode == 'RGB' and overlay.size == (64, 64)


def test_test_tool_tta_and_show_dir_every_sample(trained, tmp_path,
                                                 mini_data_dir):
    show = tmp_path / 'show'
    out = _run([
        'tools/test.py', 'configs/source_only/mini.py',
        str(trained / 'iter_4.pth'), '--work-dir',
        str(tmp_path / 'test'), '--tta', '--show-dir',
        str(show), '--cfg-options', '+test_dataloader.dataset.indices=5',
        'test_dataloader.batch_size=2'
    ], mini_data_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [ln for ln in out.stdout.splitlines()
            if ln.startswith('summary: aAcc ')]
    drawn = os.listdir(show / 'vis_data' / 'vis_image')
    assert len(drawn) == 5  # 3 batches, each sample drawn
    # 64x64 drawn at 256: a title strip, ground truth | prediction, legend
    width, height = Image.open(show / 'vis_data' / 'vis_image' /
                               drawn[0]).size
    assert width == 2 * 256 and height > 256 + 2 * 22
