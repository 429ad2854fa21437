"""ADVENT: self-information and entropy on hand cases, the MinEnt / AdvEnt
switches, the losses of each variant, configs; slow: a short run of the
tools on the mini task."""
import copy
import math
import os
import os.path as osp

import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.engine.optimizers import UDAOptimWrapperConstructor
from clst_mmseg.models.segmentors.advent import entropy_loss, self_information
from conftest import ROOT
from forked_tool import run_tool
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

CONFIGS = osp.join(ROOT, 'configs', 'advent')


def _build(name='mini.py', **kw):
    cfg = Config.fromfile(osp.join(CONFIGS, name)).model.to_dict()
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _data(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)

    def imgs():
        return [torch.randint(0, 256, (3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(n)]

    def samples(labelled):
        out = []
        for _ in range(n):
            s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                            ori_shape=(size, size)))
            if labelled:
                s.gt_sem_seg = PixelData(data=torch.randint(
                    0, 7, (1, size, size), generator=g))
            out.append(s)
        return out

    return dict(inputs=imgs(), data_samples=samples(True),
                target_inputs=imgs(), target_data_samples=samples(False))


def _logits_of(probs):
    """Logits whose softmax over dim 1 is ``probs`` (N, C, H, W)."""
    return torch.log(probs)


# self-information and entropy on known distributions ---------------------


def test_entropy_of_uniform_distribution_is_one():
    for c in (2, 4, 19):
        logits = torch.zeros(2, c, 3, 5)
        assert entropy_loss(logits).item() == pytest.approx(1.0, abs=1e-6)


def test_self_information_of_a_known_distribution():
    # p = (1/2, 1/4, 1/4): -p log2 p = (1/2, 1/2, 1/2) bits, H = 1.5 bits,
    # normalised by log2(3)
    probs = torch.tensor([0.5, 0.25, 0.25]).view(1, 3, 1, 1)
    info = self_information(_logits_of(probs))
    torch.testing.assert_close(
        info.flatten(), torch.full((3, ), 0.5 / math.log2(3)))
    assert entropy_loss(_logits_of(probs)).item() == pytest.approx(
        1.5 / math.log2(3))
    # the mean over pixels: one uniform pixel (1) and one of p above
    two = torch.stack([torch.full((3, ), 1 / 3), probs.flatten()],
                      dim=1).view(1, 3, 1, 2)
    assert entropy_loss(_logits_of(two)).item() == pytest.approx(
        0.5 * (1 + 1.5 / math.log2(3)))


def test_entropy_of_confident_prediction_is_near_zero_and_finite():
    logits = torch.zeros(1, 4, 2, 2)
    logits[:, 0] = 100.0  # softmax saturates to one-hot
    logits.requires_grad_()
    ent = entropy_loss(logits)
    assert ent.item() == pytest.approx(0.0, abs=1e-6)
    ent.backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match='2 classes'):
        self_information(torch.zeros(1, 1, 2, 2))


def test_entropy_gradient_sharpens_the_prediction():
    logits = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1).requires_grad_()
    entropy_loss(logits).backward()
    stepped = logits - 1.0 * logits.grad
    assert entropy_loss(stepped).item() < entropy_loss(logits).item()
    assert stepped.softmax(1)[0, 0].item() > logits.softmax(1)[0, 0].item()


# switches -----------------------------------------------------------------


def test_advent_plus_minent_has_both_terms():
    model = _build()
    assert (model.minent, model.advent) == (True, True)
    assert set(model.discriminators) == {'main', 'aux'}
    assert model.lambda_ent == dict(main=0.001, aux=0.0002)
    assert model.lambda_adv == dict(main=0.001, aux=0.0002)
    # the discriminators see self-information maps: per pixel, their sum over
    # classes is the normalised entropy
    logits = torch.randn(2, 7, 8, 8)
    maps = model.discriminator_input(logits)
    torch.testing.assert_close(maps.sum(1).mean(), entropy_loss(logits))


def test_minent_alone_builds_no_discriminator():
    model = _build('mini_minent.py')
    assert not model.advent and len(model.discriminators) == 0
    wrappers = UDAOptimWrapperConstructor(
        dict(optimizer=dict(type='SGD', lr=0.1),
             discriminators=dict(optimizer=dict(type='Adam', lr=1e-4))))(
                 model)
    assert list(wrappers.keys()) == ['segmentor']
    log = model.train_step(_data(), wrappers)
    assert 'loss_ent_main' in log and not any('adv' in k for k in log)


def test_advent_alone_has_no_entropy_term():
    model = _build('mini_advent.py')
    assert not model.minent and model.lambda_ent == {}
    assert set(model.discriminators) == {'main', 'aux'}


def test_switch_errors():
    with pytest.raises(ValueError, match='at least one'):
        _build(minent=False, advent=False)
    with pytest.raises(ValueError, match='lambda_ent'):
        _build(lambda_ent=None)
    with pytest.raises(ValueError, match='lambda_adv'):
        _build(lambda_adv={})
    with pytest.raises(ValueError, match='lambda_ent'):
        _build(lambda_ent=dict(main=0.001))  # aux level missing


def test_segmentor_losses_by_hand():
    model = _build()
    batch = model.data_preprocessor(_data(), True)
    losses, src_maps, tgt_maps = model.segmentor_losses(
        batch['inputs'], batch['data_samples'], batch['target_inputs'])
    expected_keys = {
        'decode.loss_ce', 'decode.acc_seg', 'aux.loss_ce', 'aux.acc_seg',
        'loss_adv_main', 'loss_adv_aux', 'loss_ent_main', 'loss_ent_aux',
        'ent_main', 'ent_aux'
    }
    assert set(losses) == expected_keys
    # the entropy terms: lambda_ent x entropy of the upsampled target logits
    with torch.no_grad():
        logits = model.level_logits(batch['target_inputs'])
        for level, weight in (('main', 0.001), ('aux', 0.0002)):
            up = torch.nn.functional.interpolate(
                logits[level], size=(64, 64), mode='bilinear',
                align_corners=False)
            ent = entropy_loss(up)
            assert losses[f'ent_{level}'].item() == pytest.approx(ent.item(),
                                                                  rel=1e-5)
            assert losses[f'loss_ent_{level}'].item() == pytest.approx(
                weight * ent.item(), rel=1e-5)
            # the target map the discriminator learns from
            torch.testing.assert_close(tgt_maps[level], self_information(up))
            assert not tgt_maps[level].requires_grad
    assert src_maps['main'].shape == (2, 7, 64, 64)


def test_train_step_of_the_combination_updates_both_parts():
    model = _build()
    fresh = copy.deepcopy(model)
    wrappers = UDAOptimWrapperConstructor(
        dict(optimizer=dict(type='SGD', lr=0.1),
             discriminators=dict(optimizer=dict(type='Adam', lr=1e-3))))(
                 model)
    log = model.train_step(_data(), wrappers)
    assert {'loss_d_main', 'loss_d_aux', 'loss_ent_main'} <= set(log)
    for part in ('segmentor', 'discriminators'):
        assert any(not torch.equal(a, b) for a, b in zip(
            getattr(model, part).parameters(),
            getattr(fresh, part).parameters())), part
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        model.train_step(_data(), OptimWrapper(
            torch.optim.SGD(model.parameters(), lr=0.1)))
    with pytest.raises(KeyError, match='discriminators'):
        model.train_step(_data(), OptimWrapperDict(segmentor=OptimWrapper(
            torch.optim.SGD(model.segmentor.parameters(), lr=0.1))))


# configs ------------------------------------------------------------------


@pytest.mark.parametrize('task', ['mini', 'gta2cs', 'synthia2cs'])
def test_configs_change_only_the_method(task):
    """Same schedule and network as source-only; on the paper tasks
    ADVENT's own init file, data protocol and snapshot interval (see its
    protocol card)."""
    cfg = Config.fromfile(osp.join(CONFIGS, f'{task}.py'))
    so = Config.fromfile(osp.join(ROOT, 'configs', 'source_only',
                                  f'{task}.py'))
    assert cfg.model.type == 'ADVENT'
    assert cfg.model.minent and cfg.model.advent
    assert cfg.param_scheduler == so.param_scheduler
    assert cfg.optim_wrapper.optimizer == so.optim_wrapper.optimizer
    backbone, so_backbone = (cfg.model.segmentor.backbone.copy(),
                             so.model.segmentor.backbone.copy())
    if task == 'mini':
        assert cfg.train_cfg == so.train_cfg
        assert cfg.train_dataloader == so.train_dataloader
    else:
        assert cfg.train_cfg.max_iters == so.train_cfg.max_iters
        assert cfg.train_cfg.val_interval == 2000  # SAVE_PRED_EVERY
        assert cfg.train_dataloader.batch_size == 1
        assert backbone.pop('init_cfg')[-1].checkpoint == (
            'checkpoints/DeepLab_resnet_pretrained_imagenet_mmseg.pth')
        so_backbone.pop('init_cfg')
        assert cfg.reference_key is None  # joint training: no paper number
    assert backbone == so_backbone
    head = cfg.model.segmentor.decode_head.copy()
    if task == 'synthia2cs':  # scored as a 16-class model, as DADA's code
        assert head.pop('num_classes') == 16
        assert so.model.segmentor.decode_head.pop('num_classes') == 19
        assert cfg.synthia_scoring == 'train16'
    assert head == so.model.segmentor.decode_head
    assert cfg.optim_wrapper.discriminators.optimizer.type == 'Adam'


@pytest.mark.parametrize('task', ['mini', 'gta2cs', 'synthia2cs'])
def test_variant_configs_inherit_the_task(task):
    base = Config.fromfile(osp.join(CONFIGS, f'{task}.py'))
    for name, switch, key in ((f'{task}_minent.py', 'advent', 'minent'),
                              (f'{task}_advent.py', 'minent', 'advent_adv')):
        cfg = Config.fromfile(osp.join(CONFIGS, name))
        assert cfg.model[switch] is False
        cfg.model[switch] = True
        assert cfg.model == base.model
        assert cfg.optim_wrapper == base.optim_wrapper
        if task != 'mini':
            assert cfg.reference_key == key


# end to end (slow) --------------------------------------------------------


@pytest.mark.slow
def test_train_and_test_tools_on_mini(tmp_path, mini_data_dir):
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1')

    def run(args):
        return run_tool(args, ROOT, env, timeout=600)

    out = run(['tools/train.py', 'configs/advent/mini.py', '--work-dir',
               str(tmp_path), '--cfg-options', 'train_cfg.max_iters=4',
               'train_cfg.val_interval=1000', 'trajectory_points=0', 'param_scheduler.0.end=4',
               'train_dataloader.batch_size=4',
               'default_hooks.checkpoint.interval=2',
               'default_hooks.logger.interval=1'])
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    for key in ('loss_ent_main', 'loss_adv_main', 'loss_d_main'):
        assert key in log, key
    test = run(['tools/test.py', 'configs/advent/mini.py',
                str(tmp_path / 'iter_4.pth'), '--work-dir',
                str(tmp_path / 'test')])
    assert test.returncode == 0, test.stderr[-3000:]
    assert any(ln.startswith('summary:') and 'mIoU' in ln
               for ln in test.stdout.splitlines())
