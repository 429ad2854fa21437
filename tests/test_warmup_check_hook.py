"""WarmupCheckHook: the start of every warmed-up term at the start of
training, a one-line warning when it is >= max_iters, and the hook in every
training config."""
import glob
import logging
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub

import clst_mmseg  # noqa: F401
from clst_mmseg.engine.hooks import WarmupCheckHook
from conftest import ROOT
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

register_all_modules()


def _build(config, max_iters, **model):
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.update(model)
    MessageHub.get_instance(f'warmup_check_{config}_{max_iters}').update_info(
        'max_iters', max_iters)
    return MODELS.build(cfg.model)


def _run_hook(model, max_iters, caplog):
    runner = SimpleNamespace(model=model, max_iters=max_iters,
                             logger=logging.getLogger('warmup_check'))
    with caplog.at_level(logging.INFO, logger='warmup_check'):
        WarmupCheckHook().before_train(runner)
    return [(r.levelname, r.getMessage()) for r in caplog.records]


@pytest.mark.parametrize('config,kind,terms', [
    ('configs/clst/mini.py', 'CLST', ['self-training', 'contrastive term']),
    ('configs/self_training/mini.py', 'SelfTraining', ['self-training']),
    ('configs/self_training_cb/mini.py', 'CBST', ['self-training']),
])
def test_a_warm_up_past_the_schedule_is_one_warning_line(
        config, kind, terms, caplog):
    # a ratio follows the schedule: 0.25 of 30 -> 8, no warning
    lines = _run_hook(_build(config, 30), 30, caplog)
    assert lines == [('INFO', f'{kind}: ' + ', '.join(
        f'{t} from iteration 8' for t in terms) + ' of 30')]
    caplog.clear()
    # an absolute warm-up does not follow a shortened schedule
    model = _build(config, 30, warmup_ratio=None, warmup_iters=500)
    warnings = [m for lvl, m in _run_hook(model, 30, caplog)
                if lvl == 'WARNING']
    assert warnings == [
        f'{kind}: {t} starts at iteration 500 >= max_iters 30, so it never '
        'trains; shorten its warm-up (e.g. model.warmup_ratio) or lengthen '
        'the schedule' for t in terms
    ]


def test_models_without_warm_up_are_left_alone(caplog):
    model = _build('configs/source_only/mini.py', 30)
    assert model.warmups() == {}
    assert _run_hook(model, 30, caplog) == []


def test_every_training_config_has_the_hook():
    configs = [
        p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
        if osp.basename(osp.dirname(p)) not in ('_base_', 'benchmarks')
    ] + glob.glob(osp.join(ROOT, 'configs', '*', 'ablations', '*.py'))
    assert len(configs) > 20
    missing = [
        osp.relpath(p, ROOT) for p in configs
        if 'WarmupCheckHook' not in [
            h['type'] for h in Config.fromfile(p).get('custom_hooks', [])
        ]
    ]
    assert missing == []
