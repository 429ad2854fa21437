"""CheckpointTrajectoryHook on short mini runs: K evenly spaced points,
the val metrics of those steps, label-free criteria, teacher agreement."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from clst_mmseg.benchmark import workdir as wd

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _train(config, work_dir, env_dir, iters=12, points=3):
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'),
           osp.join(REPO, config), '--work-dir', str(work_dir),
           '--cfg-options', f'train_cfg.max_iters={iters}',
           f'trajectory_points={points}']
    env = dict(__import__('os').environ, CLST_MMSEG_DATA_DIR=env_dir,
               OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with open(osp.join(work_dir, 'trajectory.json')) as f:
        return json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize('method', ['dacs', 'source_only'])
def test_trajectory_points_and_criteria(method, tmp_path, mini_data_dir):
    traj = _train(f'configs/{method}/mini.py', tmp_path / 'wd',
                  mini_data_dir)
    assert [p['step'] for p in traj] == [4, 8, 12]
    # the recorded target-val score is the one the validation logged
    curve = {c['step']: c['mIoU']
             for c in wd.val_curve(wd.read_scalars(str(tmp_path / 'wd')))}
    assert {p['step']: p['metrics']['mIoU'] for p in traj} == curve
    keys = {'entropy', 'im', 'snd', 'source_mIoU'}
    if method == 'dacs':
        keys.add('agreement')  # against its EMA teacher
    for p in traj:
        assert set(p['criteria']) == keys
        assert p['criteria']['entropy'] < 0  # negated entropy
        assert 0 <= p['criteria']['source_mIoU'] <= 100
        if 'agreement' in keys:
            assert 0 <= p['criteria']['agreement'] <= 1


@pytest.mark.parametrize('config', [
    'configs/dacs/gta2cs.py', 'configs/dacs/synthia2cs.py',
    'configs/self_training_cb/gta2cs.py', 'configs/clst/mini.py'
])
def test_label_free_pipeline_neither_loads_nor_needs_labels(config, tmp_path):
    """DACS scores validation at 512x1024 labels (ResizeLabelsForEval after
    LoadAnnotations): the target images of the label-free criteria must run
    through the pipeline without both."""
    import numpy as np
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    from PIL import Image

    import clst_mmseg.registration  # noqa: F401
    from clst_mmseg.engine.hooks.trajectory_hook import (LABEL_TRANSFORMS,
                                                         _without_labels)
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, config))
    pipeline = _without_labels(cfg.val_dataloader.dataset.pipeline)
    assert not [t for t in pipeline if t['type'] in LABEL_TRANSFORMS]
    assert pipeline[-1]['type'] == 'PackUDAInputs'
    img = tmp_path / 'img.png'
    Image.fromarray(np.zeros((96, 192, 3), np.uint8)).save(img)
    out = Compose(pipeline)(dict(img_path=str(img), seg_map_path=None,
                                 reduce_zero_label=False, seg_fields=[],
                                 sample_idx=3))
    assert 'gt_sem_seg' not in out['data_samples']
    assert out['data_samples'].sample_idx == 3


def test_criteria_images_stay_within_the_training_target_subset():
    from clst_mmseg.engine.hooks.trajectory_hook import first_images
    assert first_images(None, 100) == 100
    assert first_images(16, 100) == 16  # a target set cut to 16 images
    assert first_images(500, 100) == 100
    assert first_images([5, 3, 9], 2) == [5, 3]
