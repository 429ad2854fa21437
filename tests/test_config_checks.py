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
