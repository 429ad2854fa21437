"""The configs the tools load format their text once: the same text as
mmengine's, yapf run once for unchanged content and again after a change,
and the class survives the runner's deep copy."""
import copy
import os.path as osp
from unittest import mock

import mmengine.config.config as mmengine_config
from mmengine.config import Config

from clst_mmseg.apis.config import load_config
from clst_mmseg.apis.config_text import FormatOnceConfig
from conftest import ROOT

CONFIG = osp.join(ROOT, 'configs', 'clst', 'mini.py')


def test_same_text_as_mmengine_formatted_once(tmp_path):
    cfg = load_config(CONFIG, work_dir=str(tmp_path))
    assert isinstance(cfg, FormatOnceConfig)
    plain = Config.fromfile(CONFIG)
    plain.launcher, plain.work_dir = 'none', str(tmp_path)
    expected = plain.pretty_text
    with mock.patch.object(mmengine_config, 'FormatCode',
                           wraps=mmengine_config.FormatCode) as yapf:
        for _ in range(3):
            assert cfg.pretty_text == expected
        copied = copy.deepcopy(cfg)  # what Runner.from_cfg does
        assert type(copied) is FormatOnceConfig
        assert copied.pretty_text == expected
        dumped = tmp_path / 'dumped.py'
        cfg.dump(str(dumped))
        assert dumped.read_text() == expected
        assert yapf.call_count == 1
        cfg.train_cfg.max_iters = 7  # changed content: formatted again
        assert 'max_iters=7' in cfg.pretty_text
        assert yapf.call_count == 2
