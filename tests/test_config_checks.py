"""Bad configs fail before anything is built, with one line naming the
key and what was expected."""
import pytest

import clst_mmseg  # noqa: F401
from clst_mmseg.apis import load_config, prepare_run
from clst_mmseg.apis.config import check_model_types
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
