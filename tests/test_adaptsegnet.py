"""AdaptSegNet: discriminator, GAN losses and their label convention, the
multi-level model, the two-optimizer train step, the optimizer-wrapper
constructor, configs; slow: a short run of the tools. Resume equivalence
(segmentor, discriminators, both optimizers and schedulers against an
uninterrupted run) is the method check's (test_method_check.py); a SIGKILL
and --resume of AdaptSegNet, test_adversarial_ddp.py's."""
import copy
import math
import os.path as osp

import pytest
import torch

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.engine.optimizers import UDAOptimWrapperConstructor
from clst_mmseg.models.discriminators import (AdversarialLoss,
                                              FCDiscriminator, gan_loss)
from clst_mmseg.models.segmentors.adaptsegnet import with_auxiliary_head
from conftest import ROOT
from test_train_e2e import _run
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

register_all_modules()

CONFIG = osp.join(ROOT, 'configs', 'adaptsegnet', 'mini.py')


def _model_cfg(path=CONFIG, **kw):
    cfg = Config.fromfile(path).model.to_dict()
    cfg.update(kw)
    return cfg


def _build(path=CONFIG, **kw):
    torch.manual_seed(0)
    return MODELS.build(_model_cfg(path, **kw))


def _data(n=2, size=64, seed=0):
    """A raw batch as the UDA dataloader gives it (uint8 images)."""
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


# discriminator ----------------------------------------------------------


def test_fc_discriminator_layout_and_output_size():
    d = FCDiscriminator(in_channels=7)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    slopes = [m.negative_slope for m in d.modules()
              if isinstance(m, torch.nn.LeakyReLU)]
    assert slopes == [0.2] * 4
    assert d(torch.rand(2, 7, 64, 64)).shape == (2, 1, 2, 2)
    small = FCDiscriminator(in_channels=3, channels=(4, 8))
    assert small(torch.rand(1, 3, 32, 32)).shape == (1, 1, 4, 4)
    with pytest.raises(ValueError, match='channels'):
        FCDiscriminator(in_channels=3, channels=())
    with pytest.raises(ValueError, match='in_channels'):
        FCDiscriminator(in_channels=0)


# GAN losses and the label convention --------------------------------------


def test_gan_loss_values_on_hand_cases():
    zeros = torch.zeros(2, 1, 3, 3)
    # BCE of logit 0 is ln 2 against either label
    assert gan_loss(zeros, 0.0).item() == pytest.approx(math.log(2))
    assert gan_loss(zeros, 1.0).item() == pytest.approx(math.log(2))
    # logit 2 vs label 1: log(1 + e^-2); vs label 0: log(1 + e^2)
    two = torch.full((1, 1, 2, 2), 2.0)
    assert gan_loss(two, 1.0).item() == pytest.approx(math.log1p(math.exp(-2)))
    assert gan_loss(two, 0.0).item() == pytest.approx(math.log1p(math.exp(2)))
    # LS-GAN: mean squared distance to the label
    x = torch.tensor([0.0, 1.0, 3.0])
    assert gan_loss(x, 1.0, 'lsgan').item() == pytest.approx((1 + 0 + 4) / 3)
    with pytest.raises(ValueError, match='gan_mode'):
        gan_loss(x, 1.0, 'wgan')


@pytest.mark.parametrize('gan_mode', ['vanilla', 'lsgan'])
def test_label_convention_source_0_target_1(gan_mode):
    adv = AdversarialLoss(gan_mode)
    assert (adv.source_label, adv.target_label) == (0.0, 1.0)
    # a perfect discriminator: "source" on source maps, "target" on target
    if gan_mode == 'vanilla':
        d_src, d_tgt = torch.full((4, ), -20.0), torch.full((4, ), 20.0)
    else:
        d_src, d_tgt = torch.zeros(4), torch.ones(4)
    assert adv.discriminator(d_src, d_tgt).item() == pytest.approx(0, abs=1e-6)
    assert adv.accuracy(d_src, d_tgt).item() == 1.0
    # the segmentor is penalised while target maps look like "target" ...
    assert adv.generator(d_tgt).item() > 0.9
    # ... and not once they look like source maps
    assert adv.generator(d_src).item() == pytest.approx(0, abs=1e-6)
    # swapped outputs: everything wrong
    assert adv.accuracy(d_tgt, d_src).item() == 0.0
    # the discriminator loss halves each domain's term
    a, b = torch.randn(5), torch.randn(5)
    expected = 0.5 * (gan_loss(a, 0.0, gan_mode) + gan_loss(b, 1.0, gan_mode))
    assert adv.discriminator(a, b).item() == pytest.approx(expected.item())


def test_label_convention_can_be_flipped_and_is_checked():
    adv = AdversarialLoss('vanilla', source_label=1.0, target_label=0.0)
    d_src, d_tgt = torch.full((3, ), 20.0), torch.full((3, ), -20.0)
    assert adv.accuracy(d_src, d_tgt).item() == 1.0
    assert adv.generator(d_src).item() == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match='differ'):
        AdversarialLoss('vanilla', 1.0, 1.0)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        AdversarialLoss('vanilla', 0.0, 2.0)
    AdversarialLoss('lsgan', -1.0, 1.0)  # LS-GAN labels are not bounded
    with pytest.raises(ValueError, match='gan_mode'):
        AdversarialLoss('hinge')


# model --------------------------------------------------------------------


def test_auxiliary_head_is_a_copy_of_the_main_classifier_on_layer3():
    seg = Config.fromfile(CONFIG).segmentor.to_dict()
    out = with_auxiliary_head(
        seg, dict(in_index=0, in_channels=64, loss_decode=dict(
            loss_weight=0.1)))
    aux, main = out['auxiliary_head'], seg['decode_head']
    assert (aux['in_index'], aux['in_channels']) == (0, 64)
    assert aux['loss_decode']['loss_weight'] == 0.1
    assert aux['loss_decode']['type'] == main['loss_decode']['type']
    assert aux['dilations'] == main['dilations']
    assert aux['num_classes'] == main['num_classes']
    assert with_auxiliary_head(seg, None) == seg
    with pytest.raises(ValueError, match='in_channels'):
        with_auxiliary_head(seg, dict(in_index=0))
    with pytest.raises(ValueError, match='one place'):
        with_auxiliary_head(out, dict(in_index=0, in_channels=64))


def test_model_levels_and_discriminators():
    model = _build()
    assert model.levels == ('main', 'aux')
    assert set(model.discriminators) == {'main', 'aux'}
    assert model.lambda_adv == dict(main=0.001, aux=0.0002)
    x = torch.randn(2, 3, 64, 64)
    # the configured in_channels are those of the backbone's layer3 output
    layer3 = model.segmentor.extract_feat(x)[0]
    assert model.segmentor.auxiliary_head.in_channels == layer3.shape[1]
    logits = model.level_logits(x)
    assert logits['main'].shape == logits['aux'].shape == (2, 7, 16, 16)
    # the discriminator sees a probability map
    maps = model.discriminator_input(torch.randn(2, 7, 8, 8))
    torch.testing.assert_close(maps.sum(1), torch.ones(2, 8, 8))
    # prediction uses the main classifier only
    model.eval()
    assert model(x, mode='tensor').shape == (2, 7, 16, 16)


def test_model_argument_errors():
    with pytest.raises(ValueError, match='lambda_adv'):
        _build(lambda_adv=dict(main=0.001))  # aux level missing
    with pytest.raises(ValueError, match='no auxiliary_head'):
        _build(auxiliary_head=None)  # aux weight without an aux head
    with pytest.raises(ValueError, match='lambda_adv: required'):
        _build(lambda_adv=None)
    single = _build(auxiliary_head=None, lambda_adv=dict(main=0.001))
    assert single.levels == ('main', ) and list(single.discriminators) == [
        'main'
    ]


def _wrappers(model, seg_lr=1.0, d_lr=1.0):
    """Plain SGD (no momentum, no weight decay): an update is -lr * grad."""
    ctor = UDAOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=seg_lr),
             discriminators=dict(type='OptimWrapper',
                                 optimizer=dict(type='SGD', lr=d_lr))))
    return ctor(model)


@pytest.mark.parametrize('gan_mode', ['vanilla', 'lsgan'])
def test_train_step_updates_segmentor_then_discriminators(gan_mode):
    """The segmentor's update is the gradient of its losses alone (the
    discriminators frozen), the discriminators' update that of their loss
    on the pre-update maps: nothing leaks between the two."""
    model = _build(gan_mode=gan_mode)
    ref = copy.deepcopy(model)
    data = _data()
    log = model.train_step(copy.deepcopy(data), _wrappers(model))
    for key in ('decode.loss_ce', 'aux.loss_ce', 'loss_adv_main',
                'loss_adv_aux', 'loss_d_main', 'loss_d_aux', 'acc_d_main'):
        assert key in log, key

    # the same step by hand on the copy
    batch = ref.data_preprocessor(copy.deepcopy(data), True)
    ref.discriminators.requires_grad_(False)
    losses, src_maps, tgt_maps = ref.segmentor_losses(
        batch['inputs'], batch['data_samples'], batch['target_inputs'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    ref.discriminators.requires_grad_(True)
    assert all(p.grad is None for p in ref.discriminators.parameters())
    d_losses = ref.discriminator_losses(src_maps, tgt_maps)
    (d_losses['loss_d_main'] + d_losses['loss_d_aux']).backward()
    with torch.no_grad():
        for p in ref.parameters():
            if p.grad is not None:
                p -= p.grad
    for (name, a), b in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, msg=name)
    # both parts moved
    fresh = _build(gan_mode=gan_mode)
    for part in ('segmentor', 'discriminators'):
        moved = [not torch.equal(a, b) for a, b in zip(
            getattr(model, part).parameters(),
            getattr(fresh, part).parameters())]
        assert any(moved), part


def test_adversarial_gradient_reaches_the_segmentor():
    model = _build()
    batch = model.data_preprocessor(_data(), True)
    model.discriminators.requires_grad_(False)
    losses, _, _ = model.segmentor_losses(batch['inputs'],
                                          batch['data_samples'],
                                          batch['target_inputs'])
    losses['loss_adv_main'].backward()
    grads = [p.grad for p in model.segmentor.decode_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    # weighted by lambda_adv: 0.001 x BCE of a fresh discriminator (~ln 2)
    assert losses['loss_adv_main'].item() == pytest.approx(
        0.001 * math.log(2), rel=0.2)


def test_train_step_needs_the_optimizer_dict():
    model = _build()
    plain = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        model.train_step(_data(), plain)
    only_seg = OptimWrapperDict(segmentor=OptimWrapper(
        torch.optim.SGD(model.segmentor.parameters(), lr=0.1)))
    with pytest.raises(KeyError, match='discriminators'):
        model.train_step(_data(), only_seg)


# optimizer-wrapper constructor --------------------------------------------


def test_constructor_splits_the_model_and_checks_coverage():
    model = _build()
    wrappers = _wrappers(model, seg_lr=0.5, d_lr=0.25)
    assert set(wrappers.keys()) == {'segmentor', 'discriminators'}
    seg_params = {id(p) for g in wrappers['segmentor'].param_groups
                  for p in g['params']}
    d_params = {id(p) for g in wrappers['discriminators'].param_groups
                for p in g['params']}
    assert seg_params == {id(p) for p in model.segmentor.parameters()}
    assert d_params == {id(p) for p in model.discriminators.parameters()}
    assert wrappers.get_lr() == {'segmentor.lr': [0.5],
                                 'discriminators.lr': [0.25]}
    with pytest.raises(ValueError, match='no submodule'):
        UDAOptimWrapperConstructor(
            dict(optimizer=dict(type='SGD', lr=0.1),
                 critic=dict(optimizer=dict(type='SGD', lr=0.1))))(model)
    with pytest.raises(ValueError, match='no optimizer for'):
        UDAOptimWrapperConstructor(dict(optimizer=dict(type='SGD',
                                                       lr=0.1)))(model)
    with pytest.raises(ValueError, match='optim_wrapper.optimizer'):
        UDAOptimWrapperConstructor(
            dict(discriminators=dict(optimizer=dict(type='SGD', lr=0.1))))


# configs ------------------------------------------------------------------


@pytest.mark.parametrize('task', ['mini', 'gta2cs', 'synthia2cs'])
def test_configs_change_only_the_method(task):
    """Same schedule and network as source-only; on the paper tasks the
    reference's own classifier and data protocol (see its protocol card)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'adaptsegnet',
                                   f'{task}.py'))
    so = Config.fromfile(osp.join(ROOT, 'configs', 'source_only',
                                  f'{task}.py'))
    assert cfg.model.type == 'AdaptSegNet'
    # shared schedule and backbone
    assert cfg.param_scheduler == so.param_scheduler
    assert cfg.train_cfg == so.train_cfg
    assert cfg.optim_wrapper.optimizer == so.optim_wrapper.optimizer
    assert cfg.model.segmentor.backbone == so.model.segmentor.backbone
    head, so_head = (cfg.model.segmentor.decode_head.copy(),
                     so.model.segmentor.decode_head.copy())
    if task == 'mini':
        assert cfg.train_dataloader == so.train_dataloader
    else:
        # the reference Classifier_Module sums the dilation-6 and -12
        # branches only; whole 1280x720 / 1024x512 frames, batch 1
        assert head.pop('branch_mode') == 'first_two'
        assert so_head.pop('branch_mode') == 'sum_all'
        assert cfg.train_dataloader.batch_size == 1
        assert cfg.reference_key == 'adaptsegnet'
    assert head == so_head
    # the method's own parts
    assert cfg.optim_wrapper.constructor == 'UDAOptimWrapperConstructor'
    assert cfg.optim_wrapper.discriminators.optimizer == dict(
        type='Adam', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
    # layer3 of a ResNet: base_channels x 4, x 4 more for bottlenecks
    backbone = cfg.model.segmentor.backbone
    expansion = 1 if backbone.depth in (18, 34) else 4
    assert cfg.model.auxiliary_head.in_channels == (
        backbone.get('base_channels', 64) * 4 * expansion)
    assert cfg.model.lambda_adv == dict(main=0.001, aux=0.0002)
    assert cfg.model.auxiliary_head.loss_decode.loss_weight == 0.1


def test_the_r101_model_gets_its_layer3_classifier():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'adaptsegnet',
                                   'gta2cs.py'))
    seg = with_auxiliary_head(cfg.model.segmentor.to_dict(),
                              cfg.model.auxiliary_head.to_dict())
    aux = seg['auxiliary_head']
    assert (aux['in_index'], aux['in_channels'], aux['num_classes']) == (
        0, 1024, 19)
    assert aux['dilations'] == (6, 12, 18, 24)
    assert aux['branch_mode'] == 'first_two'  # a copy of the main head
    assert seg['backbone']['out_indices'] == (2, 3)
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys.decode_head.lr_mult == keys.auxiliary_head.lr_mult == 10.0


# end to end (slow) --------------------------------------------------------

FAST = [
    'train_cfg.max_iters=4', 'train_cfg.val_interval=1000', 'trajectory_points=0',
    'param_scheduler.0.end=4', 'train_dataloader.batch_size=4',
    'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=5', 'randomness.seed=3'
]


def _tools():
    """Runs a tool as test_train_e2e's runs do (one thread, the session's
    mini data, tests/support importable for the kill hook)."""

    def run(args, mini_data_dir, timeout=600):
        return _run(args, mini_data_dir, timeout=timeout)

    return run


@pytest.mark.slow
def test_train_and_test_tools_on_mini(tmp_path, mini_data_dir):
    run = _tools()
    out = run(['tools/train.py', 'configs/adaptsegnet/mini.py',
               '--work-dir', str(tmp_path), '--cfg-options', *FAST],
              mini_data_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    ckpt = torch.load(tmp_path / 'iter_4.pth', map_location='cpu',
                      weights_only=True)
    assert set(ckpt['optimizer']) == {'segmentor', 'discriminators'}
    assert set(ckpt['param_schedulers']) == {'segmentor', 'discriminators'}
    # both optimizers are decayed by their own copy of the shared schedule
    seg, disc = (ckpt['param_schedulers'][k][0]
                 for k in ('segmentor', 'discriminators'))
    assert seg['last_step'] == disc['last_step'] > 0
    cfg = Config.fromfile(CONFIG)
    assert seg['base_values'] == [cfg.optim_wrapper.optimizer.lr]
    assert disc['base_values'] == [1e-4]
    assert seg['end'] == disc['end'] == 4
    test = run(['tools/test.py', 'configs/adaptsegnet/mini.py',
                str(tmp_path / 'iter_4.pth'), '--work-dir',
                str(tmp_path / 'test')], mini_data_dir)
    assert test.returncode == 0, test.stderr[-3000:]
    assert any(ln.startswith('summary:') and 'mIoU' in ln
               for ln in test.stdout.splitlines())


