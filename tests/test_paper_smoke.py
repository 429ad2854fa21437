"""The paper-scale smoke: random data in the official layouts, the config
changes it makes (data roots, sizes scaled from the config's own, the
probe hook), the checks of a run's record and probe (each problem by its
line), and, slow, ``tools/smoke_paper_scale.py`` end to end for CLST and for
the DAFormer stack (MIC's paper config) at a reduced size."""
import copy
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.benchmark.paper_smoke import (check_run, data_root_changes,
                                              ensemble_grid,
                                              feature_distance_note,
                                              format_report, scaled_size,
                                              size_changes, smoke_config,
                                              write_fake_data)
from clst_mmseg.datasets.cityscapes_labels import CITYSCAPES_CLASSES
from clst_mmseg.datasets.class_stats import load_class_stats
from clst_mmseg.datasets.official_layouts import (CITYSCAPES_SIZE, GTA5_SIZE,
                                                  SYNTHIA_SIZE,
                                                  cityscapes_paths,
                                                  gta_paths, synthia_paths)
from conftest import ROOT
from mmengine.config import Config

CLST_GTA = osp.join(ROOT, 'configs', 'clst', 'gta2cs.py')
CLST_MINI = osp.join(ROOT, 'configs', 'clst', 'mini.py')
MIC_GTA = osp.join(ROOT, 'configs', 'mic', 'gta2cs.py')


def test_fake_data_in_the_official_layouts(tmp_path):
    roots = write_fake_data(str(tmp_path), images=2, val_images=1,
                            scale=0.05)
    assert set(roots) == {'GTADataset', 'SynthiaDataset', 'CityscapesDataset'}
    for k in range(2):
        for paths, size in ((gta_paths(roots['GTADataset'], k), GTA5_SIZE),
                            (synthia_paths(roots['SynthiaDataset'], k),
                             SYNTHIA_SIZE)):
            with Image.open(paths[0]) as img:
                assert img.size == scaled_size(size, 0.05)
            converted = paths[1][:-4] + '_labelTrainIds.png'
            with Image.open(converted) as lab:
                ids = np.array(lab)
            assert ids.shape == scaled_size(size, 0.05)[::-1]
            assert set(np.unique(ids)) <= set(range(19)) | {255}
            assert len(np.unique(ids)) > 10  # random labels, many classes
    img, label = cityscapes_paths(roots['CityscapesDataset'], 'val',
                                  'frankfurt', 'frankfurt_000000_000019')
    assert osp.isfile(img)
    assert osp.isfile(label.replace('_labelIds', '_labelTrainIds'))
    with Image.open(img) as im:
        assert im.size == scaled_size(CITYSCAPES_SIZE, 0.05)
    # class statistics beside the data, as the converters write them (rare
    # class sampling reads the source's): counts of the converted labels;
    # Cityscapes: the train split only
    for kind, n in (('GTADataset', 2), ('SynthiaDataset', 2),
                    ('CityscapesDataset', 2)):
        stats = load_class_stats(roots[kind], 19)
        assert len(stats) == n
    path = gta_paths(roots['GTADataset'], 0)[1][:-4] + '_labelTrainIds.png'
    with Image.open(path) as lab:
        ids = np.array(lab)
    counts = load_class_stats(roots['GTADataset'], 19)[osp.relpath(
        path, roots['GTADataset'])]
    assert counts == {c: int((ids == c).sum()) for c in range(19)
                      if (ids == c).any()}


def test_pixel_lengths_and_areas_scale_with_the_sizes():
    """DAFormer's crop margins and MIC's mask blocks (pixels) scale with the
    sizes; rare class sampling's min_pixels (pixels of a label file) with
    the area."""
    cfg = Config.fromfile(MIC_GTA).to_dict()
    assert (cfg['model']['pseudo_ignore_top'],
            cfg['model']['pseudo_ignore_bottom'],
            cfg['model']['mask_block_size']) == (15, 120, 32)
    rcs = cfg['train_dataloader']['dataset']['rare_class_sampling']
    assert rcs['min_pixels'] == 3000
    changes = size_changes(cfg, 0.125)
    assert changes['model.pseudo_ignore_top'] == 2  # 1.875
    assert changes['model.pseudo_ignore_bottom'] == 15
    assert changes['model.mask_block_size'] == 4
    assert changes[
        'train_dataloader.dataset.rare_class_sampling.min_pixels'] == 47
    # the crops as before; the temperature and ratios are not sizes
    assert changes['model.data_preprocessor.size'] == (64, 64)
    assert not any(k.endswith(('class_temp', 'min_crop_ratio', 'mask_ratio',
                               'fd_min_ratio')) for k in changes)
    # a margin of 0 stays 0
    cfg['model']['pseudo_ignore_top'] = 0
    assert 'model.pseudo_ignore_top' not in size_changes(cfg, 0.125)


def test_the_report_marks_the_random_feature_distance_encoder():
    mic = Config.fromfile(MIC_GTA).to_dict()
    clst = Config.fromfile(CLST_GTA).to_dict()
    assert feature_distance_note(dict(clst=clst)) is None
    note = feature_distance_note(dict(mic=mic, clst=clst, daformer=mic))
    assert note.startswith(
        'FEATURE DISTANCE (daformer, mic): its frozen encoder, which stands '
        'for the ImageNet model, is randomly initialised too')
    assert 'fd_min_ratio=0.75 ' in note
    mic['model']['fd_weight'] = 0
    assert feature_distance_note(dict(mic=mic)) is None


def test_a_model_with_rounds_gets_one_round_in_the_smoke():
    from clst_mmseg.benchmark.paper_smoke import round_changes
    cbst = Config.fromfile(osp.join(ROOT, 'configs', 'self_training_cb', 'gta2cs.py')).to_dict()
    assert cbst['model']['num_rounds'] > 1
    assert round_changes(cbst) == {'model.num_rounds': 1}
    assert round_changes(Config.fromfile(CLST_GTA).to_dict()) == {}
    # the rounds label at the config's labelling scale, scaled like the rest
    hooks = cbst['custom_hooks']
    i = next(i for i, h in enumerate(hooks) if h['type'] == 'CBSTRoundHook')
    j = next(j for j, t in enumerate(hooks[i]['pipeline'])
             if t['type'] == 'Resize')
    assert size_changes(cbst, 0.125)[
        f'custom_hooks.{i}.pipeline.{j}.scale'] == scaled_size(
            hooks[i]['pipeline'][j]['scale'], 0.125)


def test_config_changes_come_from_the_config():
    cfg = Config.fromfile(CLST_GTA).to_dict()
    assert size_changes(cfg, 1.0) == {}
    changes = size_changes(cfg, 0.125)
    src = cfg['train_dataloader']['dataset']['source']['pipeline']
    for i, t in enumerate(src):
        for key in ('scale', 'crop_size'):
            if key in t:
                path = f'train_dataloader.dataset.source.pipeline.{i}.{key}'
                assert changes[path] == scaled_size(t[key], 0.125)
    assert changes['model.data_preprocessor.size'] == scaled_size(
        cfg['model']['data_preprocessor']['size'], 0.125)
    assert changes['model.ensemble.memory_size'] == scaled_size(
        cfg['model']['ensemble']['memory_size'], 0.125)
    # every value that changed is a size pair of the config
    assert all(len(v) == 2 for v in changes.values())

    roots = dict(GTADataset='/g', SynthiaDataset='/s',
                 CityscapesDataset='/c')
    assert data_root_changes(cfg, roots) == {
        'train_dataloader.dataset.source.data_root': '/g',
        'train_dataloader.dataset.target.data_root': '/c',
        'val_dataloader.dataset.data_root': '/c',
        'test_dataloader.dataset.data_root': '/c'}
    with pytest.raises(ValueError) as e:
        data_root_changes(cfg, dict(CityscapesDataset='/c'))
    assert str(e.value) == (
        "train_dataloader.dataset.source.type: the smoke has no fake data "
        "for dataset type 'GTADataset' (has: ['CityscapesDataset'])")

    smoke = smoke_config(CLST_GTA, roots, 0.125)
    assert smoke.default_hooks.smoke_probe == dict(type='SmokeProbeHook',
                                                   priority='LOW')
    assert smoke.model.ensemble.memory_size == changes[
        'model.ensemble.memory_size']
    assert smoke.train_dataloader.dataset.target.data_root == '/c'
    # the rest of the config is the paper config's
    assert smoke.optim_wrapper == Config.fromfile(CLST_GTA).optim_wrapper


def _good_run(iters=2, val=2):
    """A record and probes of a run that lines up (CLST on GTA5, crops
    64x128, target frames 64x128, grid 8x16, labels 128x256)."""
    it = dict(source=[[64, 128]] * 2, source_labels=[[64, 128]] * 2,
              target=[[64, 128]] * 2, target_frames=[[64, 128]] * 2,
              seconds=1.5)
    train = dict(device='cpu', threads=1, iterations=[dict(it)
                                                     for _ in range(iters)],
                 output_grids={'[64, 128]': [8, 16]},
                 ensemble=dict(images=2, grid=[8, 16]), peak_bytes=2**20,
                 peak_kind='CPU RSS growth during training')
    names = ['mIoU', 'mIoU19'] + [f'IoU.{c}' for c in CITYSCAPES_CLASSES]
    samples = [dict(pred=[128, 256], label=[128, 256])] * val
    record = dict(status='finished', iterations=iters,
                  devices=dict(type='cpu', count=1),
                  metrics=dict(mIoU=1.0, mIoU19=1.0, aAcc=2.0),
                  per_class_iou={c: 1.0 for c in CITYSCAPES_CLASSES})
    return (record, dict(train=train, val=dict(samples=samples,
                                               metrics=names)),
            dict(test=dict(samples=samples, metrics=names)))


def _smoke_cfg():
    smoke = Config.fromfile(CLST_GTA)
    smoke.merge_from_dict(size_changes(smoke.to_dict(), 0.125))
    return smoke.to_dict()


def _check(record, probe, test_probe, cfg=None):
    return check_run(record, probe, test_probe, cfg or _smoke_cfg(), iters=2,
                     target_images=2, val_images=2, label_size=(128, 256),
                     device='cpu')


def test_check_run_passes_a_run_that_lines_up():
    row, problems = _check(*_good_run())
    assert problems == []
    assert row['source'] == row['target'] == '64x128'
    assert row['ensemble'] == '2x8x16'
    assert row['test_at'] == row['val_at'] == '128x256'
    assert row['subsets'] == 'mIoU19'
    assert row['s_per_iter'] == 1.5 and row['peak_bytes'] == 2**20
    text = format_report([dict(row, task='gta2cs', method='clst',
                               problems=problems)], ['header'])
    assert text.splitlines()[0] == 'header'
    assert 'ok' in text.splitlines()[3]


def test_check_run_names_each_problem():
    record, probe, test_probe = _good_run()
    bad = copy.deepcopy(probe)
    bad['train']['ensemble']['grid'] = [16, 32]
    assert _check(record, bad, test_probe)[1] == [
        'ensemble grid 16x32, the network outputs 8x16 for a whole target '
        'frame']

    bad = copy.deepcopy(probe)
    bad['train']['iterations'][1]['source_labels'] = [[64, 128], [32, 64]]
    assert _check(record, bad, test_probe)[1] == [
        'source labels [[64, 128], [32, 64]] do not match their images '
        '[[64, 128], [64, 128]]']

    bad = copy.deepcopy(test_probe)
    bad['test']['samples'] = [dict(pred=[64, 128], label=[128, 256])] * 2
    assert _check(record, probe, bad)[1] == [
        'test: prediction [64, 128] vs label [128, 256], expected both '
        '[128, 256]']

    bad = copy.deepcopy(record)
    del bad['metrics']['mIoU19']
    del bad['per_class_iou']['train']
    assert _check(bad, probe, test_probe)[1] == [
        "record metrics lack the subsets ['mIoU19'] (have ['aAcc', 'mIoU'])",
        'record per-class IoU has 18 classes, expected the 19 Cityscapes '
        'classes']

    cfg = _smoke_cfg()
    crop = next(t for t in cfg['train_dataloader']['dataset']['source'][
        'pipeline'] if 'crop_size' in t)
    crop['crop_size'] = (32, 64)
    assert _check(record, probe, test_probe, cfg)[1] == [
        "source inputs [(64, 128)] larger than the config's crop 32x64"]
    # an input smaller than the crop: only after a random rescale (the
    # data preprocessor pads it), not with a fixed resize
    crop['crop_size'] = (64, 128)
    small = copy.deepcopy(probe)
    its = small['train']['iterations']
    its[1]['source'] = its[1]['source_labels'] = [[64, 128], [52, 88]]
    assert _check(record, small, test_probe, cfg)[1] == [
        'source inputs [(52, 88)], the config crops 64x128']
    src = cfg['train_dataloader']['dataset']['source']['pipeline']
    src.insert(2, dict(type='RandomResize', scale=(1280, 720),
                       ratio_range=(0.5, 1.5), keep_ratio=True))
    assert _check(record, small, test_probe, cfg)[1] == []

    failed = dict(status='failed',
                  reason=dict(message='loss = nan at iteration 2'))
    row, problems = _check(failed, probe, {})
    assert problems == ['run failed: loss = nan at iteration 2']
    assert row['s_per_iter'] == 1.5  # the probe's figures are kept


def test_ensemble_grid_follows_the_output_stride():
    train = dict(iterations=[dict(target=[[512, 512]],
                                  target_frames=[[512, 1024]])],
                 output_grids={'[512, 512]': [64, 64]})
    assert ensemble_grid(train) == (64, 128)  # stride 8, whole frame


@pytest.mark.slow
def test_smoke_tool_runs_clst_at_a_reduced_size(tmp_path):
    """CLST's paper config on GTA5 -> Cityscapes at 1/16 of every size, 2
    images per set. The override normalises with batch statistics: with
    frozen BN statistics a randomly initialised ResNet-101 overflows (loss
    ~1e5, then NaN)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, 'tools/smoke_paper_scale.py', '--methods', 'clst',
         '--tasks', 'gta2cs', '--images', '2', '--scale', '0.0625',
         '--device', 'cpu', '--work-dir', str(tmp_path), '--cfg-options',
         'model.segmentor.backbone.norm_eval=False'],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    lines = out.stdout.splitlines()
    assert any(ln.startswith('RANDOM INITIALISATION') for ln in lines)
    assert any(ln.startswith('REDUCED SIZES: every image size') for ln in
               lines)
    row = next(ln for ln in lines if ln.startswith('gta2cs'))
    # crops 512x1024 / 16; 2 images x the stride-8 grid of a 32x64 frame;
    # evaluation at the 64x128 labels
    assert row.split()[:2] == ['gta2cs', 'clst'] and row.endswith('ok')
    assert '32x64' in row and '2x4x8' in row and '64x128' in row
    records = os.listdir(tmp_path / 'results' / 'gta2cs' / 'records')
    assert len(records) == 1
    assert not any(f.endswith('.pth')
                   for _, _, files in os.walk(tmp_path / 'runs')
                   for f in files)


def test_smoke_tool_names_bad_arguments(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, 'tools/smoke_paper_scale.py', '--work-dir',
             str(tmp_path), *args], cwd=ROOT, text=True,
            capture_output=True, timeout=300,
            env=dict(os.environ, PYTHONPATH=ROOT))

    out = run('--scale', '2')
    assert out.returncode == 1
    assert out.stderr.strip() == 'error: --scale must be in (0, 1], got 2.0'
    out = run('--images', '0')
    assert out.returncode == 1
    assert out.stderr.strip() == 'error: --images must be >= 1, got 0'
    assert not os.listdir(tmp_path)  # nothing written


def test_ensemble_grid_is_unchecked_for_randomly_resized_frames():
    record, probe, test_probe = _good_run()
    probe['train']['iterations'][1]['target_frames'] = [[80, 160]] * 2
    row, problems = _check(record, probe, test_probe)
    assert problems == []
    assert row['ensemble'] == \
        '2x8x16 (unchecked: no single target frame size)'


@pytest.mark.slow
def test_probe_records_a_mini_clst_run(tmp_path, mini_data_dir):
    """The probe in a real (mini) CLST run of tools/train.py: batch shapes,
    the stride-4 output grid, the ensemble memory, evaluation shapes, time
    and memory."""
    import json
    config = tmp_path / 'probe.py'
    config.write_text(
        f"_base_ = ['{CLST_MINI}']\n"
        "default_hooks = dict(smoke_probe=dict(type='SmokeProbeHook', "
        "priority='LOW'))\n"
        "val_dataloader = dict(dataset=dict(indices=3))\n")
    out = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--work-dir',
         str(tmp_path), '--cfg-options', 'train_cfg.max_iters=2',
         'train_cfg.val_interval=2', 'trajectory_points=0',
         'train_dataloader.batch_size=2',
         'default_hooks.checkpoint.interval=100'],
        cwd=ROOT, text=True, capture_output=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
                 CLST_MMSEG_DATA_DIR=mini_data_dir))
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    with open(tmp_path / 'smoke_probe.json') as f:
        probe = json.load(f)
    train = probe['train']
    assert [len(it['source']) for it in train['iterations']] == [2, 2]
    for it in train['iterations']:
        assert it['source'] == it['source_labels'] == [[64, 64]] * 2
        assert it['target'] == [[64, 64]] * 2 and it['seconds'] > 0
        # mini's random resize (1.0-1.5) of the 64x64 target images
        assert all(64 <= h <= 96 and 64 <= w <= 96
                   for h, w in it['target_frames'])
    assert train['output_grids'] == {'[64, 64]': [16, 16]}
    # the memory the hook announced: every target image, 16x16 cells
    log = out.stdout + out.stderr
    images = int(log.split('TemporalEnsembleHook: ')[1].split()[0])
    assert images > 100 and '(16, 16) cells' in log
    assert train['ensemble'] == dict(images=images, grid=[16, 16])
    assert train['peak_bytes'] > 0 and train['device'] == 'cpu'
    assert probe['val']['samples'] == [dict(pred=[64, 64],
                                            label=[64, 64])] * 3
    assert 'mIoU' in probe['val']['metrics']


@pytest.mark.slow
def test_smoke_tool_runs_the_daformer_stack(tmp_path):
    """MIC's paper config on GTA5 -> Cityscapes (MiT-B5 + DAFormer head,
    DAFormer's training with rare class sampling, the feature distance and
    the pseudo-label crop margins, MIC's masked term) through the paper
    suite, at 1/16 of every size: random init (its weights file is absent),
    class statistics of the fake data, the pixel knobs scaled, the stride-4
    output the head reads."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, 'tools/smoke_paper_scale.py', '--methods', 'mic',
         '--tasks', 'gta2cs', '--images', '2', '--scale', '0.0625',
         '--device', 'cpu', '--work-dir', str(tmp_path / 'work')],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    lines = out.stdout.splitlines()
    row = next(ln for ln in lines if ln.startswith('gta2cs'))
    # crops 512x512 / 16; evaluation at the 64x128 labels
    assert row.split()[:2] == ['gta2cs', 'mic']
    assert row.endswith('ok') and '32x32' in row and '64x128' in row
    assert any('32x32->8x8' in ln for ln in lines
               if ln.startswith('network output grids'))
    assert any(ln.startswith('FEATURE DISTANCE (mic): its frozen encoder')
               for ln in lines)
    work = tmp_path / 'work'
    record = json.loads(next(
        (work / 'results' / 'gta2cs' / 'records').glob('*.json')).read_text())
    ckpt = 'checkpoints/mit_b5_mmseg.pth'
    assert [(e['checkpoint'], e['loaded'])
            for e in record['init']['entries']] == [
                (ckpt, osp.isfile(osp.join(ROOT, ckpt)))]
    # the run trained on the scaled knobs: 3000 pixels / 16^2, 15 and 120
    # rows / 16, blocks of 32 / 16 pixels
    cfg = record['resolved_config']
    rcs = cfg['train_dataloader']['dataset']['rare_class_sampling']
    assert rcs['min_pixels'] == 12
    assert (cfg['model']['pseudo_ignore_top'],
            cfg['model']['pseudo_ignore_bottom'],
            cfg['model']['mask_block_size']) == (1, 8, 2)
    log = next((work / 'runs').rglob('train.log')).read_text()
    assert 'masked.loss_ce' in log and 'fd.cells' in log
