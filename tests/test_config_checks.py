"""Bad configs fail before anything is built, with one line naming the
key and what was expected: unknown model types, overrides of keys the config
lacks (unless marked new with '+'), out-of-range values, constructor
arguments a model part's class does not take."""
import pytest

import clst_mmseg  # noqa: F401
from clst_mmseg.apis import load_config, prepare_run
from clst_mmseg.apis.config import check_model_types
from clst_mmseg.apis.config_checks import check_config
from conftest import ROOT


def test_unknown_model_type_names_the_key_and_suggests():
    cfg = load_config(f'{ROOT}/configs/source_only/mini.py',
                      {'model.segmentor.backbone.type': 'ResNett'})
    with pytest.raises(ValueError) as err:
        check_model_types(cfg)
    msg = str(err.value)
    assert msg.startswith("model.segmentor.backbone.type: unknown model type "
                          "'ResNett'")
    assert "'ResNet'" in msg and '\n' not in msg


def test_every_shipped_task_config_names_registered_types():
    for method in ('source_only', 'oracle'):
        for task in ('mini', 'gta2cs', 'synthia2cs'):
            check_model_types(
                load_config(f'{ROOT}/configs/{method}/{task}.py'))


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='config file not found'):
        load_config(str(tmp_path / 'nope.py'))


def test_head_and_dataset_class_count_mismatch(mini_data_dir):
    cfg = load_config(f'{ROOT}/configs/source_only/mini.py',
                      {'model.segmentor.decode_head.num_classes': 5})
    with pytest.raises(ValueError, match='num_classes'):
        prepare_run(cfg)


def _load(options):
    return load_config(f'{ROOT}/configs/source_only/mini.py', options)


@pytest.mark.parametrize('key, expected', [
    ('foo.bar', "foo.bar: not a key of the config (the top level has no key "
     "'foo'); to add a new key, write +foo.bar=..."),
    ('train_cfg.max_iterz', "train_cfg.max_iterz: not a key of the config "
     "(train_cfg has no key 'max_iterz'; did you mean "
     "'train_cfg.max_iters'?); to add a new key, write "
     "+train_cfg.max_iterz=..."),
    ('randomnes.seed', "randomnes.seed: not a key of the config (the top "
     "level has no key 'randomnes'; did you mean 'randomness'?); to add a "
     "new key, write +randomnes.seed=..."),
    ('param_scheduler.3.end', "param_scheduler.3.end: not a key of the "
     "config (param_scheduler is a list of 1 item(s); '3' is not an index "
     "of it); to add a new key, write +param_scheduler.3.end=..."),
])
def test_override_of_a_missing_key_is_refused(key, expected):
    with pytest.raises(ValueError) as err:
        _load({key: 1})
    assert str(err.value) == expected


def test_override_keys_that_exist_or_are_marked_new_pass():
    cfg = _load({'train_cfg.max_iters': 20, 'param_scheduler.0.end': 20,
                 '+foo.bar': 1, 'work_dir': '/tmp/x'})
    assert cfg.train_cfg.max_iters == 20 and cfg.foo.bar == 1
    assert cfg.param_scheduler[0].end == 20 and cfg.work_dir == '/tmp/x'
    assert '+foo' not in cfg


@pytest.mark.parametrize('options, expected', [
    ({'train_cfg.max_iters': -5},
     'train_cfg.max_iters: expected an int >= 1, got -5'),
    ({'train_cfg.max_iters': 2.5},
     'train_cfg.max_iters: expected an int >= 1, got 2.5'),
    ({'train_dataloader.batch_size': 0},
     'train_dataloader.batch_size: expected an int >= 1, got 0'),
    ({'randomness.seed': -1}, 'randomness.seed: expected an int in [0, '
     '4294967295] or None, got -1'),
    ({'optim_wrapper.optimizer.lr': -0.1},
     'optim_wrapper.optimizer.lr: expected a finite number >= 0, got -0.1'),
    # NaN passed the ">= 0" test (every comparison with NaN is False)
    ({'optim_wrapper.optimizer.lr': float('nan')},
     'optim_wrapper.optimizer.lr: expected a finite number >= 0, got nan'),
    ({'optim_wrapper.optimizer.weight_decay': 'abc'},
     "optim_wrapper.optimizer.weight_decay: expected a finite number >= 0, "
     "got 'abc'"),
    # mmengine's scheduler failed on it after the runner was built
    ({'param_scheduler.0.power': 'abc'},
     "param_scheduler.0.power: expected a finite number >= 0, got 'abc'"),
    ({'+optim_wrapper.optimizer.momentum': 1.5},
     'optim_wrapper.optimizer.momentum: expected a finite number in [0, 1], '
     'got 1.5'),
    ({'default_hooks.checkpoint.interval': 0},
     'default_hooks.checkpoint.interval: expected an int >= 1 or -1, got 0'),
])
def test_out_of_range_values_name_the_key(options, expected):
    cfg = _load(options)
    with pytest.raises(ValueError) as err:
        check_config(cfg)
    assert str(err.value) == expected


@pytest.mark.parametrize('key, expected', [
    ('+model.segmentor.decode_head.num_clases',
     "model.segmentor.decode_head.num_clases: DeepLabV2Head takes no "
     "argument 'num_clases'; did you mean 'num_classes'?"),
    ('+model.segmentor.backbone.dept',
     "model.segmentor.backbone.dept: ResNet takes no argument 'dept'; did "
     "you mean 'depth'?"),
    ('+model.segmentor.decode_head.loss_decode.los_weight',
     "model.segmentor.decode_head.loss_decode.los_weight: CrossEntropyLoss "
     "takes no argument 'los_weight'; did you mean 'loss_weight'?"),
])
def test_unknown_constructor_keys_name_the_key_path(key, expected):
    cfg = _load({key: 3})
    with pytest.raises(ValueError) as err:
        check_config(cfg)
    assert str(err.value) == expected


def test_constructor_keys_of_uda_methods_and_kwargs_chains():
    # ADVENT forwards **kwargs to AdaptSegNet; mmseg heads to BaseDecodeHead
    cfg = load_config(f'{ROOT}/configs/advent/mini.py',
                      {'+model.lambda_advv': 1})
    with pytest.raises(ValueError, match=r"^model.lambda_advv: ADVENT takes "
                       r"no argument 'lambda_advv'; did you mean "
                       r"'lambda_adv'\?$"):
        check_config(cfg)
    cfg = load_config(f'{ROOT}/configs/clst/mini.py',
                      {'+model.projection_head.chanels': 8})
    with pytest.raises(ValueError, match='^model.projection_head.chanels: '
                       'ProjectionHead takes no argument'):
        check_config(cfg)


@pytest.mark.parametrize('method, options, expected', [
    # trained 500 iterations before
    ('clst', {'model.cl_weight': -1},
     'model.cl_weight: CLST expects a finite number >= 0, got -1'),
    ('clst', {'model.ensemble.momentum': 1.0},
     'model.ensemble.momentum: CLST expects a finite number in [0, 1), '
     'got 1.0'),
    ('clst', {'model.contrastive_loss.temperature': 0},
     'model.contrastive_loss.temperature: CentroidContrastiveLoss expects a '
     'finite number > 0, got 0'),
    ('clst', {'+model.target_augment.jitter_prob': 2},
     'model.target_augment.jitter_prob: CLST expects a finite number in '
     '[0, 1], got 2'),
    ('dacs', {'model.alpha': float('nan')},
     'model.alpha: DACS expects a finite number in [0, 1), got nan'),
    ('dacs', {'model.mix_augment.blur_sigma': [0.15, float('inf')]},
     'model.mix_augment.blur_sigma.1: DACS expects a finite number > 0, got '
     'inf'),
    ('self_training', {'model.pseudo_label.threshold': 'abc'},
     "model.pseudo_label.threshold: SelfTraining expects a finite number in "
     "[0, 1], got 'abc'"),
    ('self_training', {'model.warmup_ratio': 1},
     'model.warmup_ratio: SelfTraining expects a finite number in [0, 1) or '
     'None, got 1'),
    ('self_training_cb', {'model.num_rounds': 0},
     'model.num_rounds: CBST expects an int >= 1, got 0'),
    ('self_training_cb', {'+model.warmup_iters': 2.5},
     'model.warmup_iters: CBST expects an int >= 0, got 2.5'),
    ('adaptsegnet', {'model.lambda_adv.aux': -0.1},
     'model.lambda_adv.aux: AdaptSegNet expects a finite number >= 0, got '
     '-0.1'),
    ('adaptsegnet', {'model.discriminator.negative_slope': True},
     'model.discriminator.negative_slope: FCDiscriminator expects a finite '
     'number >= 0, got True'),
    ('advent', {'model.lambda_ent.main': float('inf')},
     'model.lambda_ent.main: ADVENT expects a finite number >= 0, got inf'),
    ('daformer', {'model.fd_min_ratio': 1.5},
     'model.fd_min_ratio: DAFormer expects a finite number in [0, 1], got '
     '1.5'),
    ('daformer', {'model.alpha': 1.0},
     'model.alpha: DAFormer expects a finite number in [0, 1), got 1.0'),
    ('mic', {'model.mask_ratio': float('nan')},
     'model.mask_ratio: MIC expects a finite number in [0, 1), got nan'),
    ('mic', {'model.mask_block_size': 0},
     'model.mask_block_size: MIC expects an int >= 1, got 0'),
])
def test_method_knobs_out_of_range_name_the_key(method, options, expected):
    cfg = load_config(f'{ROOT}/configs/{method}/mini.py', options)
    with pytest.raises(ValueError) as err:
        check_config(cfg)
    assert str(err.value) == expected


def _registered_classes():
    """Every class of clst_mmseg in mmseg's MODELS registry."""
    from mmseg.registry import MODELS
    return sorted({cls for cls in MODELS.module_dict.values()
                   if cls.__module__.startswith('clst_mmseg.')},
                  key=lambda c: c.__name__)


def test_declared_knobs_are_arguments_and_valid_ranges():
    """Every ``knob_ranges`` entry parses and names an argument of its
    class (a typo there would check nothing)."""
    from clst_mmseg.apis.config_checks import _accepted, knob_ranges
    declared = 0
    for cls in _registered_classes():
        args = _accepted(cls)
        for pattern in knob_ranges(cls):
            assert pattern.split('.')[0] in args, (cls.__name__, pattern)
            declared += 1
    assert declared > 40


def test_a_users_own_method_declares_its_knob_ranges():
    from mmseg.registry import MODELS

    from clst_mmseg.models.segmentors import SelfTraining

    @MODELS.register_module(force=True)
    class _MyMethod(SelfTraining):
        knob_ranges = {'my_weight': '(0, 10]', 'levels.*': 'int [1, 4]'}

        def __init__(self, my_weight=1.0, levels=(1, ), **kwargs):
            super().__init__(**kwargs)

    base = load_config(f'{ROOT}/configs/self_training/mini.py').to_dict()
    for knob, value, expected in [
            ('my_weight', 0, "_MyMethod expects a finite number in (0, 10], "
             'got 0'),
            ('levels', [1, 5], '_MyMethod expects an int in [1, 4], got 5'),
            ('warmup_iters', -1, '_MyMethod expects an int >= 0, got -1')]:
        model = dict(base['model'], type='_MyMethod', **{knob: value})
        with pytest.raises(ValueError) as err:
            check_config(dict(base, model=model))
        key = f'model.{knob}' + ('.1' if knob == 'levels' else '')
        assert str(err.value) == f'{key}: {expected}'
    check_config(dict(base, model=dict(base['model'], type='_MyMethod',
                                       my_weight=10, levels=[4])))


@pytest.mark.parametrize('spec, inside, outside', [
    ('[0, 1)', [0, 0.5, 0.999], [1, -0.1, float('nan'), None, True, '0']),
    ('(0, inf)', [1e-9, 3, 1e300], [0, float('inf'), -1]),
    ('int [1, inf) or -1', [1, 7, -1], [0, 1.0, -2, None]),
    ('[0, 1] or None', [None, 0, 1], [1.5, 'None']),
    ('(-inf, inf)', [-5, 0, 2.5], [float('-inf'), float('nan'), 'x']),
])
def test_value_ranges(spec, inside, outside):
    from clst_mmseg.apis.config_checks import ValueRange
    rule = ValueRange(spec)
    assert all(rule.contains(v) for v in inside)
    assert not any(rule.contains(v) for v in outside)


def test_a_range_not_written_as_an_interval_is_refused():
    from clst_mmseg.apis.config_checks import ValueRange, knob_ranges
    with pytest.raises(ValueError, match=r"^range '0..1': expected an "
                       'interval'):
        ValueRange('0..1')

    class _Bad:
        knob_ranges = {'w': '>= 0'}

    with pytest.raises(ValueError, match=r"^_Bad.knob_ranges\['w'\]: "):
        knob_ranges(_Bad)


def test_every_shipped_config_passes_the_checks():
    import glob
    paths = sorted(glob.glob(f'{ROOT}/configs/*/*.py') +
                   glob.glob(f'{ROOT}/configs/*/ablations/*.py'))
    paths = [p for p in paths if '/benchmarks/' not in p
             and '/_base_/' not in p]
    assert len(paths) > 30
    for path in paths:
        cfg = load_config(path)
        check_model_types(cfg)
        check_config(cfg)


def test_benchmark_overrides_go_through_the_same_check(tmp_path, capsys):
    from clst_mmseg.benchmark.cli import main
    from clst_mmseg.benchmark.suite import SuiteError, load_suite
    from test_benchmark_fakes import make_suite
    suite = make_suite(str(tmp_path))
    with pytest.raises(SuiteError) as err:
        load_suite(suite, extra_overrides={'randomnes.seed': 1})
    assert str(err.value).endswith(
        "does not load: randomnes.seed: not a key of the config (the top "
        "level has no key 'randomnes'; did you mean 'randomness'?); to add "
        "a new key, write +randomnes.seed=...")
    assert main([suite, '--cfg-options', 'randomnes.seed=1']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'randomnes.seed: not a key' in err
    assert main([suite, '--cfg-options', 'train_cfg.max_iters=-5']) == 2
    assert 'train_cfg.max_iters: expected an int >= 1, got -5' in \
        capsys.readouterr().err
    assert not (tmp_path / 'results').exists()  # nothing ran
    runs = load_suite(suite, extra_overrides={'+fake.extra': 1}).runs
    assert '+fake.extra=1' in runs[0].cfg_options


def test_paper_config_without_its_weights_file_stops_before_training(
        tmp_path, monkeypatch):
    """The paper configs name the weights their references started from;
    a missing file stops a training with one line saying how to get it,
    unless allow_random_init=True. Testing needs no init file."""
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here
    cfg = load_config(f'{ROOT}/configs/dacs/gta2cs.py')
    assert cfg.allow_random_init is False
    with pytest.raises(FileNotFoundError) as err:
        prepare_run(cfg, verify=False)
    assert str(err.value) == (
        'model.segmentor.backbone.init_cfg.2: pretrained weights '
        'checkpoints/resnet101COCO-41f33a49_mmseg.pth not found; DACS\'s '
        'init (configUDA.json "pretrained": "coco", trainUDA.py): download '
        'http://vllab1.ucmerced.edu/~whung/adv-semi-seg/'
        'resnet101COCO-41f33a49.pth and run python '
        'tools/convert_weights/deeplabv2_resnet101.py '
        'resnet101COCO-41f33a49.pth '
        'checkpoints/resnet101COCO-41f33a49_mmseg.pth; or set '
        'allow_random_init=True (--cfg-options allow_random_init=True) to '
        'train from random initialisation')
    prepare_run(cfg, verify=False, train=False)  # tools/test.py
    prepare_run(load_config(f'{ROOT}/configs/dacs/gta2cs.py',
                            {'allow_random_init': True}), verify=False)
    # with the file in place the check passes
    (tmp_path / 'checkpoints').mkdir()
    (tmp_path / 'checkpoints' / 'resnet101COCO-41f33a49_mmseg.pth').touch()
    prepare_run(cfg, verify=False)
    # the mini task keeps random init: nothing to check
    prepare_run(load_config(f'{ROOT}/configs/dacs/mini.py'), verify=False)


def test_every_paper_config_names_a_pretrained_file():
    from clst_mmseg.benchmark.initialisation import (is_local,
                                                     pretrained_entries)
    for method in ('source_only', 'oracle', 'adaptsegnet', 'advent', 'dacs',
                   'self_training', 'self_training_cb', 'clst'):
        for task in ('gta2cs', 'synthia2cs'):
            cfg = load_config(f'{ROOT}/configs/{method}/{task}.py')
            entries = pretrained_entries(cfg.model)
            assert len(entries) == 1, (method, task)
            key, entry = entries[0]
            assert key == 'model.segmentor.backbone.init_cfg.2'
            assert is_local(entry['checkpoint'])
            assert entry['checkpoint'].startswith('checkpoints/')
            assert 'tools/convert_weights/' in entry['source']
        assert pretrained_entries(
            load_config(f'{ROOT}/configs/{method}/mini.py').model) == []
