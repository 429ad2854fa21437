"""CBST as released: the class-normalised rule on hand-computed pixels, k_c
over a known histogram, the compressed label store, the round schedule, a
round boundary of CBSTRoundHook on mini images, and (slow) resume in the
middle of a round."""
import logging
import os
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.engine.hooks import CBSTRoundHook
from clst_mmseg.engine.target_predictions import iter_target_probs
from clst_mmseg.models.utils.ensemble_memory import AugGeometry
from clst_mmseg.models.utils.pseudo_label import (class_normalised_labels,
                                                  portion_thresholds,
                                                  subsampled_confidences)
from clst_mmseg.models.utils.pseudo_label_store import PseudoLabelStore
from conftest import ROOT, as_a_user_runs_it, check_user_hooks_ran
from forked_tool import run_tool
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules(init_default_scope=True)

CONFIG = 'configs/self_training_cb/mini.py'


# -- the selection rule ----------------------------------------------------
def test_class_normalised_rule_moves_a_pixel_toward_the_rare_class():
    # classes: A=0 (frequent, confident: k=0.9), B=1 (rare: k=0.3), C=2
    k = torch.tensor([0.9, 0.3, 0.5])
    probs = torch.tensor([
        [0.60, 0.35, 0.05],  # raw arg-max A; ratios 0.667, 1.167, 0.1 -> B
        [0.95, 0.03, 0.02],  # ratios 1.056, 0.1, 0.04 -> A, kept
        [0.50, 0.25, 0.25],  # ratios 0.556, 0.833, 0.5 -> below 1: dropped
    ]).t().reshape(3, 1, 3)  # (C, H=1, W=3)
    labels = class_normalised_labels(probs, k)
    assert labels.tolist() == [[1, 0, 255]]
    # the raw arg-max rule (kept if p >= k_argmax) would drop pixel 0
    conf, raw = probs.max(0)
    assert raw.tolist() == [[0, 0, 0]]
    assert (conf >= k[raw]).tolist() == [[False, True, False]]
    # batched, class axis 1
    assert class_normalised_labels(probs[None], k, class_dim=1).tolist() == \
        [[[1, 0, 255]]]


def test_thresholds_over_a_known_histogram():
    samples = [
        torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
        torch.tensor([0.7, 0.9, 0.8]),
        torch.zeros(0),
    ]
    # class 0: rank floor(0.25 * 10) = 2 -> the 2nd largest, 0.9;
    # class 1: floor(0.75) = 0 -> 1 (as released); class 2: none -> 1
    k = portion_thresholds(samples, 0.25)
    assert k.tolist() == pytest.approx([0.9, 1.0, 1.0])
    # portion 0.5: class 0 rank 5 -> 0.6; class 1 rank 1 -> 0.9
    assert portion_thresholds(samples, 0.5).tolist() == pytest.approx(
        [0.6, 0.9, 1.0])
    # global (the CBST paper's ST): 13 pooled values, rank floor(3.25) = 3
    # -> the 3rd largest of {1.0, 0.9, 0.9, 0.8, 0.8, ...} = 0.9
    g = portion_thresholds(samples, 0.25, policy='global')
    assert g.tolist() == pytest.approx([0.9, 0.9, 0.9])
    with pytest.raises(ValueError, match='policy must be one of'):
        portion_thresholds(samples, 0.25, policy='median')


def test_confidence_samples_keep_every_kth_pixel_of_each_class():
    labels = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 1]])
    conf = torch.tensor([[.1, .2, .3, .4], [.5, .6, .7, .8]])
    s = subsampled_confidences(conf, labels, 3, ds_rate=2)
    # class 0 in raster order: .1 .3 .4 .6 .7 -> every 2nd: .1 .4 .7
    assert s[0].tolist() == pytest.approx([.1, .4, .7])
    assert s[1].tolist() == pytest.approx([.2, .8])  # .2 .5 .8
    assert s[2].numel() == 0


# -- the store -------------------------------------------------------------
def test_store_reads_maps_in_the_augmented_frame_and_round_trips(tmp_path):
    store = PseudoLabelStore(3)
    own = torch.arange(16).view(4, 4)
    own[0, 0] = 255
    store.put(1, own)
    assert torch.equal(store.get(1), own)
    # crop box rows 1-2, cols 0-2 of the unscaled image, then a mirror
    geo = AugGeometry(ori_shape=(4, 4), scale=(1.0, 1.0), crop=(1, 0),
                      img_shape=(2, 3), flip='horizontal')
    assert store.read(1, geo).tolist() == own[1:3, 0:3].flip(-1).tolist()
    # a 2x2 map of a 4x4 image: every cell covers 2x2 pixels
    store.put(2, torch.tensor([[1, 2], [3, 4]]))
    full = AugGeometry((4, 4), (1.0, 1.0), (0, 0), (4, 4))
    assert store.read(2, full).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2],
                                            [3, 3, 4, 4], [3, 3, 4, 4]]
    # the same image resized x2 (8x8) and cropped at (2, 4)
    geo = AugGeometry((4, 4), (2.0, 2.0), (2, 4), (4, 4))
    assert store.read(2, geo).tolist() == [[2, 2, 2, 2]] * 2 + \
        [[4, 4, 4, 4]] * 2
    assert store.read(0, full).eq(255).all()  # nothing stored
    torch.save(store.state_dict(), tmp_path / 's.pth')
    other = PseudoLabelStore(3)
    other.load_state_dict(torch.load(tmp_path / 's.pth', weights_only=True))
    assert not other.has(0)
    assert torch.equal(other.get(1), own) and other.nbytes == store.nbytes
    with pytest.raises(ValueError, match='target set has 5'):
        PseudoLabelStore(5).load_state_dict(store.state_dict())


# -- the model -------------------------------------------------------------
def _model(**kw):
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    model_cfg = dict(cfg.model)
    model_cfg.update(kw)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def test_round_schedule_and_portions():
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model = _model(num_rounds=3, warmup_ratio=0.25)
    assert model.round_starts() == [25, 50, 75]
    assert [model.round_at(i) for i in (0, 24, 25, 49, 50, 99)] == \
        [None, None, 0, 0, 1, 2]
    assert [model.round_portion(r) for r in range(3)] == pytest.approx(
        [0.2, 0.25, 0.3])
    capped = _model(pseudo_label=dict(portion=0.4, portion_step=0.1,
                                      max_portion=0.5))
    assert [capped.round_portion(r) for r in range(3)] == pytest.approx(
        [0.4, 0.5, 0.5])


@pytest.mark.parametrize('cfg, match', [
    (dict(portion=0.2, typo=1), 'unknown'),
    (dict(portion=0.2, policy='median'), 'policy must be one of'),
    (dict(portion=0), 'portion must be given'),
    (dict(portion=0.3, max_portion=0.2), 'max_portion must be in'),
    (dict(portion=0.2, ds_rate=0), 'ds_rate must be an integer'),
])
def test_bad_pseudo_label_config(cfg, match):
    with pytest.raises(ValueError, match=match):
        _model(pseudo_label=cfg)


def test_loss_without_the_round_hook_fails_clearly():
    MessageHub.get_current_instance().update_info('max_iters', 4)
    model = _model(warmup_ratio=0.0)
    x = torch.randn(1, 3, 64, 64)
    src = SegDataSample(metainfo=dict(img_shape=(64, 64)))
    src.gt_sem_seg = PixelData(data=torch.zeros(1, 64, 64, dtype=torch.long))
    with pytest.raises(KeyError, match='add CBSTRoundHook'):
        model.loss(x, [src], x, [SegDataSample()])


# -- the hook at a round boundary ------------------------------------------
def _target(n):
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    target = dict(cfg.train_dataloader.dataset.target)
    target['indices'] = n
    return DATASETS.build(target)


def _runner(model, target, it, max_iters=8):
    return SimpleNamespace(
        model=model, iter=it, max_iters=max_iters,
        logger=logging.getLogger('test_cbst'),
        message_hub=MessageHub.get_instance('test_cbst'),
        train_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(target=target)))


def test_round_boundary_labels_the_whole_set_exactly(mini_data_dir):
    model = _model(warmup_ratio=0.25, num_rounds=2)  # rounds at 2 and 5
    model.train()
    target = _target(6)
    hook = CBSTRoundHook(batch_size=4)
    calls = []
    label_round = hook.label_round
    hook.label_round = lambda *a: calls.append(a[-1]) or label_round(*a)
    runner = _runner(model, target, 0)
    runner.message_hub.update_info('max_iters', 8)
    hook.before_train(runner)
    samples = [SegDataSample(metainfo=dict(
        sample_idx=3, ori_shape=(64, 64), img_shape=(32, 64),
        scale_factor=(1.0, 1.0), crop_bbox=(16, 48, 0, 64), flip=True,
        flip_direction='horizontal'))]
    hook.before_train_iter(runner, 0, dict(target_data_samples=samples))
    assert calls == [] and 'gt_sem_seg' not in samples[0]  # warm-up

    runner.iter = 2
    hook.before_train_iter(runner, 2, dict(target_data_samples=samples))
    assert calls == [0] and hook.round == 0
    # the thresholds and labels, recomputed independently
    model.segmentor.eval()
    probs = dict(iter_target_probs(model, target, range(6), flip=True,
                                   batch_size=4))
    model.segmentor.train()
    pooled = [[] for _ in range(7)]
    for p in probs.values():
        conf, lab = p.max(0)
        for c, s in enumerate(subsampled_confidences(conf, lab, 7, 4)):
            pooled[c].append(s)
    k = portion_thresholds([torch.cat(s) for s in pooled], 0.2)
    assert torch.equal(hook.thresholds, k)
    assert torch.equal(model.cb_thresholds, k)
    for i, p in probs.items():
        assert torch.equal(hook.store.get(i), class_normalised_labels(p, k))
    # the sample got image 3's labels in its frame: rows 16-47, mirrored
    expected = hook.store.get(3)[16:48].flip(-1)
    assert torch.equal(samples[0].gt_sem_seg.data[0], expected)

    runner.iter = 4  # same round: no relabelling
    hook.before_train_iter(runner, 4, dict(target_data_samples=samples))
    runner.iter = 5  # next round, portion 0.25
    hook.before_train_iter(runner, 5, None)
    assert calls == [0, 1] and hook.round == 1
    assert runner.message_hub.get_scalar('train/cbst.portion').current() \
        == pytest.approx(0.25)


def test_rounds_that_do_not_fit_stop_before_training(mini_data_dir):
    model = _model(warmup_ratio=0.5, num_rounds=3)
    runner = _runner(model, _target(2), 0, max_iters=4)
    runner.message_hub.update_info('max_iters', 4)
    with pytest.raises(ValueError, match=r'3 rounds do not fit in the 2 '
                       r'iterations after the warm-up \(max_iters 4, rounds '
                       r'at \[2, 3, 3\]\)'):
        CBSTRoundHook().before_train(runner)


# -- resume ----------------------------------------------------------------
def _train(work_dir, mini_data_dir, config=CONFIG, resume=False):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [ROOT, osp.join(ROOT, 'tests', 'support')]))
    args = [sys.executable, 'tools/train.py', str(config), '--work-dir',
            str(work_dir), '--cfg-options', 'train_cfg.max_iters=6',
            'param_scheduler.0.end=6', 'train_cfg.val_interval=1000', 'trajectory_points=0',
            'train_dataloader.batch_size=2',
            '+train_dataloader.dataset.target.indices=24',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=10',
            'default_hooks.logger.interval=1', 'model.warmup_ratio=0.34',
            'model.num_rounds=2', 'randomness.deterministic=True']
    if resume:
        args.insert(2, '--resume')
    return run_tool(args[1:], ROOT, env, timeout=600)


@pytest.mark.slow
def test_resume_inside_a_round_continues_exactly(tmp_path, mini_data_dir):
    """Rounds start at iterations 2 and 4. Killed after the iteration-3
    checkpoint (inside round 0) and resumed, the run restores round 0's
    labels without labelling again, labels round 1 at iteration 4, and ends
    with the same weights and labels as an uninterrupted run."""
    full = _train(tmp_path / 'full', mini_data_dir)
    assert full.returncode == 0, full.stderr[-3000:]
    killing = tmp_path / 'killing.py'
    killing.write_text(
        f"_base_ = ['{osp.join(ROOT, CONFIG)}']\n"
        "custom_imports = dict(imports=['clst_mmseg', 'kill_hook'])\n"
        "custom_hooks = [dict(type='RNGStateHook'),\n"
        "                dict(type='CBSTRoundHook', batch_size=8),\n"
        "                dict(type='KillAfterIterHook', kill_at=3)]\n")
    killed = _train(tmp_path / 'resumed', mini_data_dir, config=killing)
    assert killed.returncode == -9, killed.stderr[-3000:]
    resumed = _train(tmp_path / 'resumed', mini_data_dir, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert 'CBST round 0' not in log and 'CBST round 1 at iteration 4' in log

    a = torch.load(tmp_path / 'full' / 'iter_6.pth', map_location='cpu',
                   weights_only=True)
    b = torch.load(tmp_path / 'resumed' / 'iter_6.pth', map_location='cpu',
                   weights_only=True)
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), k
    ra, rb = a['cbst_rounds'], b['cbst_rounds']
    assert ra['round'] == rb['round'] == 1
    assert torch.equal(ra['thresholds'], rb['thresholds'])
    for key in ('data', 'offsets', 'present'):
        assert torch.equal(ra['labels'][key], rb['labels'][key]), key


# -- the paper-scale configs -----------------------------------------------
@pytest.mark.parametrize('config', [
    'configs/self_training_cb/gta2cs.py',
    'configs/self_training_cb/synthia2cs.py',
    'configs/self_training_global/gta2cs.py',
    'configs/self_training_global/synthia2cs.py',
])
def test_paper_configs_build_their_rounds(config, tmp_path):
    from mmengine.dataset import Compose

    from clst_mmseg.apis import load_config
    from clst_mmseg.apis.config import check_model_types
    from clst_mmseg.datasets.convert import convert_dataset
    from clst_mmseg.engine.target_predictions import label_frame_size
    from fixtures_real_layouts import make_cityscapes
    from mmseg.registry import HOOKS
    cfg = load_config(osp.join(ROOT, config))
    check_model_types(cfg)
    assert cfg.model.type == 'CBST'
    policy = 'global' if 'global' in config else 'class_balanced'
    assert cfg.model.pseudo_label.policy == policy
    assert cfg.model.num_rounds == (6 if 'synthia' in config else 3)
    hook_cfg = [h for h in cfg.custom_hooks if h.type == 'CBSTRoundHook']
    assert len(hook_cfg) == 1
    hook = HOOKS.build(hook_cfg[0])
    # the labelling pipeline on a Cityscapes-layout image
    make_cityscapes(str(tmp_path))
    convert_dataset('cityscapes', str(tmp_path))
    target = DATASETS.build(dict(cfg.train_dataloader.dataset.target,
                                 data_root=str(tmp_path), pipeline=[]))
    out = Compose(hook.pipeline)(target.get_data_info(0))
    meta = out['data_samples'].metainfo
    h0, w0 = meta['ori_shape']
    assert meta['img_shape'] == ((921, 1843) if 'gta' in config else
                                 (925, 1850))
    assert label_frame_size(meta, hook.label_scale) == (round(h0 / 2),
                                                        round(w0 / 2))


@pytest.mark.slow
def test_two_process_ddp_labels_the_whole_set_like_one_process(
        tmp_path, mini_data_dir):
    """Each rank labels half of the target set; after the all-gathers both
    ranks hold the thresholds and maps one process computes from the same
    weights over the whole set."""
    from test_train_e2e import _run
    config = tmp_path / 'ddp.py'
    config.write_text(
        f"_base_ = ['{osp.join(ROOT, CONFIG)}']\n"
        "custom_imports = dict(imports=['clst_mmseg', 'cbst_dump_hook'])\n"
        "custom_hooks = _base_.custom_hooks + [\n"
        "    dict(type='DumpCBSTRoundsHook')]\n"
        "randomness = dict(seed=3, diff_rank_seed=True)\n")
    run = _run([
        'tools/train.py', str(config), '--launcher', 'pytorch',
        '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
        *as_a_user_runs_it([
            'train_cfg.max_iters=4', 'param_scheduler.0.end=4',
            'train_dataloader.batch_size=2',
            '+train_dataloader.dataset.target.indices=12',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=10',
            'model.warmup_ratio=0.5', 'model.num_rounds=1',
            'custom_hooks.3.batch_size=1', 'default_hooks.logger.interval=1'
        ])
    ], mini_data_dir, torchrun=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    wd = tmp_path / 'wd'
    check_user_hooks_ran(wd, steps=(2, 4), pseudo_labels=True)
    ranks = [torch.load(wd / f'cbst_rank{r}.pth', weights_only=True)
             for r in (0, 1)]
    for key in ('data', 'offsets', 'present'):
        assert torch.equal(ranks[0]['labels'][key], ranks[1]['labels'][key])
    assert bool(ranks[0]['labels']['present'].all())
    assert torch.equal(ranks[0]['thresholds'], ranks[1]['thresholds'])
    # one process, the weights the round started from (after iteration 2)
    model = _model()
    model.load_state_dict(torch.load(wd / 'iter_2.pth', map_location='cpu',
                                     weights_only=True)['state_dict'])
    model.eval()
    target = _target(12)
    # one thread, as each rank ran: another thread count sums the
    # convolutions in another order (last-bit differences)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        probs = dict(iter_target_probs(model, target, range(12), flip=True))
    finally:
        torch.set_num_threads(threads)
    pooled = [[] for _ in range(7)]
    for p in probs.values():
        conf, lab = p.max(0)
        for c, s in enumerate(subsampled_confidences(conf, lab, 7, 4)):
            pooled[c].append(s)
    k = portion_thresholds([torch.cat(s) for s in pooled], 0.2)
    assert torch.equal(ranks[0]['thresholds'], k)
    store = PseudoLabelStore(12)
    store.load_state_dict(ranks[0]['labels'])
    for i, p in probs.items():
        assert torch.equal(store.get(i), class_normalised_labels(p, k)), i
