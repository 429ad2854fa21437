"""Checkpoints say which model and config wrote them; loading one written
by another stops with one line naming what differs."""
import json

import pytest
from mmengine.config import Config

import clst_mmseg  # noqa: F401
from clst_mmseg.apis import CheckpointMismatch, load_config
from clst_mmseg.apis.config import default_work_dir
from clst_mmseg.engine.hooks.checkpoint_identity_hook import (
    META_KEY, CheckpointIdentityHook, checkpoint_identity,
    identity_differences, identity_from_meta)
from conftest import ROOT


def _cfg(method, task='mini', options=None):
    return load_config(f'{ROOT}/configs/{method}/{task}.py', options)


def test_default_work_dirs_are_unique_per_method_and_task():
    assert default_work_dir('configs/clst/mini.py') == './work_dirs/clst/mini'
    assert default_work_dir(f'{ROOT}/configs/self_training/mini.py') == \
        './work_dirs/self_training/mini'
    assert default_work_dir('configs/clst/ablations/no_contrastive.py') == \
        './work_dirs/clst/ablations/no_contrastive'
    # outside a configs folder: mmseg's convention (the file name)
    assert default_work_dir('/tmp/somewhere/my_run.py') == \
        './work_dirs/my_run'
    assert _cfg('source_only').work_dir == './work_dirs/source_only/mini'
    assert _cfg('oracle').work_dir == './work_dirs/oracle/mini'


def test_identity_tells_methods_data_and_knobs_apart():
    so, st = checkpoint_identity(_cfg('source_only')), checkpoint_identity(
        _cfg('self_training'))
    assert so['model_type'] == 'UDASegmentor'
    assert st['model_type'] == 'SelfTraining'
    diffs = identity_differences(so, st)
    assert diffs[0] == 'model.type: UDASegmentor -> SelfTraining'
    # oracle: the same model trained on other data
    oracle = checkpoint_identity(_cfg('oracle'))
    diffs = identity_differences(so, oracle)
    assert diffs and all(d.startswith('train_dataloader.dataset.source.')
                         for d in diffs)
    # one knob
    knob = checkpoint_identity(_cfg('clst', options={'model.cl_weight': 0.5}))
    assert identity_differences(checkpoint_identity(_cfg('clst')), knob) == [
        'model.cl_weight: 0.1 -> 0.5'
    ]


def test_identity_ignores_locations_and_schedule_but_resume_checks_optim():
    base = checkpoint_identity(_cfg('source_only'))
    moved = checkpoint_identity(_cfg('source_only', options={
        '+train_dataloader.dataset.source.data_root': '/elsewhere',
        'train_cfg.max_iters': 10
    }))
    assert identity_differences(base, moved) == []
    lr = checkpoint_identity(
        _cfg('source_only', options={'optim_wrapper.optimizer.lr': 0.5}))
    assert identity_differences(base, lr, ('model', 'data')) == []
    assert identity_differences(base, lr) == [
        'optim_wrapper.optimizer.lr: 0.002 -> 0.5'
    ]


def test_identity_from_mmengine_config_text_of_older_checkpoints():
    cfg = _cfg('self_training')
    meta = dict(cfg=cfg.pretty_text)  # what mmengine stores in every ckpt
    assert identity_from_meta(meta) == checkpoint_identity(cfg)
    assert identity_from_meta({}) is None  # a bare state dict


class _Runner:

    def __init__(self, cfg, resume, load_from='work/iter_2.pth'):
        self.cfg, self._resume, self._load_from = cfg, resume, load_from
        self.work_dir = 'work'


def test_hook_stamps_and_refuses_another_model_with_one_line():
    hook = CheckpointIdentityHook()
    ckpt = dict(meta={})
    hook.before_save_checkpoint(_Runner(_cfg('source_only'), False), ckpt)
    assert json.loads(ckpt['meta'][META_KEY]['model'])['type'] == \
        'UDASegmentor'
    with pytest.raises(CheckpointMismatch) as err:
        hook.after_load_checkpoint(_Runner(_cfg('self_training'), True),
                                   ckpt)
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith(
        '--resume: work/iter_2.pth was written by another model or config '
        '(checkpoint -> now: model.type: UDASegmentor -> SelfTraining; ')
    assert msg.endswith('to load it anyway set allow_checkpoint_mismatch='
                        'True (--cfg-options allow_checkpoint_mismatch=True)')
    # the same config loads; asking for it loads the other one too
    hook.after_load_checkpoint(_Runner(_cfg('source_only'), True), ckpt)
    CheckpointIdentityHook(allow_mismatch=True).after_load_checkpoint(
        _Runner(_cfg('self_training'), False), ckpt)


def test_every_task_config_has_the_switch_and_a_test_pipeline():
    for method in ('source_only', 'clst', 'dacs'):
        for task in ('mini', 'gta2cs', 'synthia2cs'):
            cfg = Config.fromfile(f'{ROOT}/configs/{method}/{task}.py',
                                  import_custom_modules=False)
            assert cfg.allow_checkpoint_mismatch is False
            assert [t['type'] for t in cfg.test_pipeline] == [
                t['type'] for t in cfg.test_dataloader.dataset.pipeline
            ]
            assert cfg.tta_pipeline[1]['type'] == 'TestTimeAug'
