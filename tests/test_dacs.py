"""DACS: ClassMix mask semantics, the EMA teacher (rate, BN statistics,
eval mode, step count across a checkpoint), the pseudo-label weight and the
mixed loss on hand-checkable cases; one short run of the tools (slow).
Resume equivalence, teacher and step included, is the method check's
(tests/test_method_check.py, every method)."""
import math
import os.path as osp

import pytest
import torch
from torch import nn

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.models.segmentors.dacs import EMATeacher, pixel_weighted_ce
from clst_mmseg.models.utils.classmix import class_mix_masks, mix
from conftest import ROOT
from test_train_e2e import _run
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

MINI_MODEL = osp.join(ROOT, 'configs', '_base_', 'models', 'mini_deeplab.py')


def _build(**kw):
    base = Config.fromfile(MINI_MODEL)
    cfg = dict(type='DACS', segmentor=base.segmentor,
               data_preprocessor=base.data_preprocessor)
    cfg.update(kw)
    return MODELS.build(cfg)


def _batch(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, size, size, generator=g)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 7, (1, size, size), generator=g))
        samples.append(s)
    return inputs, samples, torch.randn(n, 3, size, size, generator=g)


# ClassMix -----------------------------------------------------------------


def test_class_mix_mask_pastes_half_of_the_source_classes_whole():
    label = torch.tensor([[0, 0, 1, 1], [2, 2, 3, 3], [255, 255, 0, 1],
                          [3, 2, 1, 0]])
    seen = set()
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        mask = class_mix_masks(label[None], generator=g)[0]
        assert mask.dtype == torch.bool and mask.shape == (4, 4)
        pasted = set(label[mask].tolist())
        assert len(pasted) == 2  # half of the 4 classes
        assert 255 not in pasted  # the ignore label is never pasted
        # every pixel of a pasted class, no pixel of another class
        assert torch.equal(mask, torch.isin(label, torch.tensor(
            sorted(pasted))))
        seen.add(tuple(sorted(pasted)))
    assert len(seen) > 1  # the draw is random


def test_class_mix_mask_draws_the_ignore_label_as_released():
    """vikolss/DACS trainUDA.py keeps 255 among the drawable classes (its
    filter is commented out): 3 classes + 255 -> 2 of 4 drawn, 255 among
    them in some draws; the DACS config asks for it."""
    label = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 255]])
    seen = set()
    for seed in range(30):
        g = torch.Generator().manual_seed(seed)
        mask = class_mix_masks(label[None], generator=g, draw_ignore=True)[0]
        pasted = tuple(sorted(set(label[mask].tolist())))
        assert len(pasted) == 2  # ceil(4 / 2): 255 counts as a class
        seen.add(pasted)
    assert any(255 in p for p in seen) and any(255 not in p for p in seen)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dacs', 'gta2cs.py'))
    assert cfg.model.classmix_draw_ignore is True
    assert cfg.model.mix_augment.per_batch is True


@pytest.mark.parametrize('classes, expected', [([4, 6, 9], 2), ([5], 1),
                                               ([], 0)])
def test_class_mix_mask_rounds_half_up(classes, expected):
    label = torch.full((1, 1, 2, 4), 255)  # (N, 1, H, W) accepted too
    label.view(-1)[:len(classes)] = torch.tensor(classes, dtype=torch.long)
    mask = class_mix_masks(label)
    assert mask.shape == (1, 2, 4)
    assert len(set(label[0, 0][mask[0]].tolist())) == expected


def test_mix_takes_source_where_mask_is_true():
    mask = torch.tensor([[[True, False], [False, True]]])
    src_img = torch.ones(1, 3, 2, 2)
    tgt_img = torch.zeros(1, 3, 2, 2)
    out = mix(mask, src_img, tgt_img)
    assert out[0, :, 0, 0].tolist() == [1, 1, 1]
    assert out[0, :, 0, 1].tolist() == [0, 0, 0]
    labels = mix(mask, torch.tensor([[[1, 1], [1, 1]]]),
                 torch.tensor([[[2, 2], [2, 2]]]))
    assert labels.tolist() == [[[1, 2], [2, 1]]]
    with pytest.raises(ValueError, match='shapes differ'):
        mix(mask, src_img, torch.zeros(1, 3, 2, 3))
    with pytest.raises(ValueError, match='labels must be'):
        class_mix_masks(torch.zeros(2, 2, dtype=torch.long))


# EMA teacher ---------------------------------------------------------------


def _net():
    return nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1))


def test_ema_teacher_rate_bn_statistics_and_eval_mode():
    student = _net()
    teacher = EMATeacher(student, alpha=0.99)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.model.training  # always eval

    def set_student(w, mean):
        student[0].weight.data.fill_(w)
        student[1].running_mean.fill_(mean)
        student[1].num_batches_tracked.fill_(int(w))

    set_student(1.0, 10.0)
    teacher.update(student)  # step 0: alpha 0, a copy
    assert teacher.model[0].weight.item() == 1.0
    set_student(3.0, 20.0)
    teacher.update(student)  # step 1: alpha min(1 - 1/2, .99) = .5
    assert teacher.model[0].weight.item() == pytest.approx(2.0)
    # BN running statistics are averaged too, the counter is copied
    assert teacher.model[1].running_mean.item() == pytest.approx(15.0)
    assert teacher.model[1].num_batches_tracked.item() == 3
    set_student(5.0, 20.0)
    teacher.update(student)  # step 2: alpha 2/3
    assert teacher.model[0].weight.item() == pytest.approx(
        2 / 3 * 2.0 + 1 / 3 * 5.0)
    assert int(teacher.step) == 3
    teacher.step.fill_(1000)
    assert teacher.current_alpha() == pytest.approx(0.99)
    with pytest.raises(ValueError, match='alpha'):
        EMATeacher(student, alpha=1.0)


def test_pixel_weighted_ce_on_hand_case():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0, 0, 1] = 2.0
    labels = torch.tensor([[[0, 0, 1, 255]]])
    weights = torch.tensor([[[1.0, 0.5, 0.25, 1.0]]])
    expected = (math.log(2) * 1.0 + math.log(1 + math.exp(-2)) * 0.5 +
                math.log(2) * 0.25 + 0.0) / 4  # mean over all 4 pixels
    assert pixel_weighted_ce(logits, labels, weights).item() == \
        pytest.approx(expected)


# DACS --------------------------------------------------------------------


def test_pseudo_label_weight_is_the_confident_fraction():
    model = _build()
    logits = torch.zeros(1, 7, 2, 2)
    logits[0, 3, 0, :] = 10.0  # confidence ~0.9986 >= 0.968 (2 pixels)
    logits[0, 5, 1, 0] = 2.0  # confidence ~0.55 < 0.968
    model.teacher.model._forward = lambda x: logits
    labels, weight = model.pseudo_labels(torch.zeros(1, 3, 2, 2))
    assert labels.tolist() == [[[3, 3], [5, 0]]]
    assert weight.item() == pytest.approx(0.5)


def test_loss_updates_teacher_first_and_mixes():
    torch.manual_seed(0)
    model = _build()
    model.train()
    inputs, samples, target = _batch()
    losses = model.loss(inputs, samples, target, None)
    assert {'decode.loss_ce', 'mix.loss_ce', 'mix.pseudo_weight'} <= set(
        losses)
    assert 0.0 <= losses['mix.pseudo_weight'].item() <= 1.0
    assert int(model.teacher.step) == 1
    # the first update copied the student as it was before the step
    s, t = model.segmentor.state_dict(), model.teacher.model.state_dict()
    assert all(torch.equal(s[k], t[k]) for k in s
               if not k.endswith('running_mean')
               and not k.endswith('running_var')
               and not k.endswith('num_batches_tracked'))
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    with pytest.raises(ValueError, match='one shape'):
        model.loss(inputs, samples, target[:, :, :32], None)


def test_teacher_and_step_survive_a_checkpoint_without_reset():
    torch.manual_seed(0)
    model = _build()
    model.train()
    inputs, samples, target = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        sum(v for k, v in model.loss(inputs, samples, target, None).items()
            if 'loss' in k).backward()
        opt.step()
    state = model.state_dict()
    assert int(state['teacher.step']) == 3

    fresh = _build()
    fresh.init_weights()
    fresh.load_state_dict(state)
    fresh.train()
    assert int(fresh.teacher.step) == 3
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(fresh.teacher.state_dict()[k], v), k
    w = 'model.backbone.conv1.weight'
    before = fresh.teacher.state_dict()[w].clone()
    student = fresh.segmentor.state_dict()['backbone.conv1.weight']
    assert not torch.equal(before, student)
    fresh.teacher.update(fresh.segmentor)  # step 3: alpha 0.75, no copy
    expected = 0.75 * before + 0.25 * student
    torch.testing.assert_close(fresh.teacher.state_dict()[w], expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match='pseudo_threshold'):
        _build(pseudo_threshold=1.5)


# Tools -------------------------------------------------------------------

FAST = [
    'train_cfg.max_iters=6', 'train_cfg.val_interval=1000', 'trajectory_points=0',
    'param_scheduler.0.end=6', 'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=5',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=4',
    'randomness.seed=3'
]


def _train(work_dir, mini_data_dir, config='configs/dacs/mini.py',
           extra=()):
    args = ['tools/train.py', str(config), '--work-dir', str(work_dir),
            '--cfg-options', *FAST, *extra]
    return _run(args, mini_data_dir)


@pytest.mark.slow
def test_train_and_test_tools(tmp_path, mini_data_dir):
    run = _train(tmp_path, mini_data_dir, extra=[
        'train_cfg.max_iters=4', 'param_scheduler.0.end=4',
        'default_hooks.checkpoint.interval=2'])
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert 'mix.loss_ce' in log
    out = _run(['tools/test.py', 'configs/dacs/mini.py',
                str(tmp_path / 'iter_4.pth'), '--work-dir',
                str(tmp_path / 'test')], mini_data_dir)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert any(ln.startswith('summary:') and 'mIoU' in ln
               for ln in out.stdout.splitlines())
