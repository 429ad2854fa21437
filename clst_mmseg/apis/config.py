"""Config handling shared by ``tools/train.py``, ``tools/test.py`` and the
benchmark runner."""
import difflib
import os
import os.path as osp
import sys
from typing import Any, Iterator, Optional, Tuple

from mmengine.config import Config

from clst_mmseg.engine.hooks import check_ensemble_pipeline
from .config_checks import check_config
from .config_text import format_once
from .custom_imports import import_custom_modules
from .run_inputs import check_run_inputs
from .schedule_length import merge_overrides, schedule_line
from .vis_backends import check_vis_backends, expand_vis_backends

# model sub-configs whose `type` lives in mmseg's MODELS registry
_MODEL_PARTS = ('segmentor', 'backbone', 'neck', 'decode_head',
                'auxiliary_head', 'data_preprocessor', 'loss_decode')


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none',
                format_python_code: bool = True) -> Config:
    """Load a config as mmseg's tools do, and import the modules its
    ``custom_imports`` names, from ``sys.path`` or from beside the config
    file (see :func:`~.custom_imports.import_custom_modules`): a method
    module next to its config needs no ``PYTHONPATH``.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides; each key
            must exist in the config unless written ``+key`` (see
            :func:`~.config_checks.merge_cfg_options`); a changed
            ``train_cfg.max_iters`` moves the schedule ends and the logger
            interval with it, said in one printed line (see
            :mod:`~.schedule_length`).
        work_dir (str, optional): ``--work-dir``; otherwise the config's
            ``work_dir`` or :func:`default_work_dir`.
        launcher (str): Job launcher. Defaults to 'none'.
        format_python_code (bool): Format the config's text with yapf when
            it is logged, dumped and put into checkpoints (mmengine's
            default). False saves ~0.5 s per use, for short in-process
            runs. Defaults to True.

    Returns:
        Config: The merged config (its text formatted once: see
            :class:`~.config_text.FormatOnceConfig`).

    Raises:
        FileNotFoundError: No such config file.
        MissingCustomModule: A module of ``custom_imports`` found nowhere
            (a ``ValueError``, one line).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = format_once(Config.fromfile(path, import_custom_modules=False))
    # mmengine 0.10's fromfile takes format_python_code but does not pass
    # it on to the Config it returns (pretty_text reads this attribute)
    super(Config, cfg).__setattr__('_format_python_code', format_python_code)
    import_custom_modules(cfg.get('custom_imports'), path)
    cfg.launcher = launcher
    line = schedule_line(merge_overrides(cfg, cfg_options))
    if line and os.environ.get('RANK', '0') == '0':
        print(line, flush=True)
    expand_vis_backends(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(path)
    return cfg


def default_work_dir(path: str) -> str:
    """``./work_dirs/<config path below configs/, without .py>``, e.g.
    ``work_dirs/clst/mini`` for ``configs/clst/mini.py``.

    mmseg names the default work dir after the config file alone; our task
    configs share file names across methods (every method has a
    ``mini.py``), so that would put every method's checkpoints (and
    ``--resume``) in one folder. A config outside a ``configs`` folder keeps
    mmseg's ``./work_dirs/<file name>``.
    """
    parts = osp.normpath(osp.abspath(path)).split(osp.sep)
    if 'configs' in parts[:-1]:
        below = len(parts) - 1 - parts[::-1].index('configs')
        parts = parts[below + 1:]
    else:
        parts = parts[-1:]
    parts[-1] = osp.splitext(parts[-1])[0]
    return osp.join('./work_dirs', *parts)


def _model_types(cfg: dict, prefix: str) -> Iterator[Tuple[str, str]]:
    """Yield ``(key path, type name)`` for the model and its parts."""
    if isinstance(cfg.get('type'), str):
        yield f'{prefix}.type', cfg['type']
    for part in _MODEL_PARTS:
        sub = cfg.get(part)
        for i, item in enumerate(sub if isinstance(sub, list) else [sub]):
            if isinstance(item, dict):
                name = f'{prefix}.{part}' + (
                    f'.{i}' if isinstance(sub, list) else '')
                yield from _model_types(item, name)


def check_model_types(cfg: Config) -> None:
    """Fail with one line naming the key when a model part's ``type`` is not
    registered (a typo, or a module that was not imported)."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    known = list(MODELS.module_dict) + [
        name for child in MODELS.children.values()
        for name in child.module_dict
    ]
    for key, type_name in _model_types(cfg.get('model', {}), 'model'):
        if MODELS.get(type_name) is None:
            close = difflib.get_close_matches(type_name, known, n=3)
            hint = f'; did you mean {close}?' if close else ''
            raise ValueError(f'{key}: unknown model type {type_name!r} (not '
                           f"registered in mmseg's MODELS){hint}")


def prepare_run(cfg: Config, verify: bool = True, train: bool = True) -> None:
    """Checks to run before building a runner, so that bad input fails with a
    one-line message before anything is trained or written: the model types
    the config names, out-of-range values and unknown model-part arguments
    (see :func:`~.config_checks.check_config`), then, in one report of
    everything missing (see :func:`~.run_inputs.check_run_inputs`), for a
    training (``train``) its pretrained weights files and (unless
    ``verify`` is False) the data roots, completeness, labels and class
    counts (see :func:`~clst_mmseg.datasets.verify.verify_config`)."""
    check_model_types(cfg)
    check_config(cfg)
    check_vis_backends(cfg)
    if train:  # testing loads a trained checkpoint instead
        check_ensemble_pipeline(cfg)  # TemporalEnsembleHook's target geometry
    check_run_inputs(cfg, weights=train, data=verify)


def use_tta(cfg: Config) -> None:
    """``tools/test.py --tta``: test through the config's ``tta_model``
    (mmseg's ``SegTTAModel``) reading ``tta_pipeline``, as mmseg's tool
    does, after checking that the config has both.

    Args:
        cfg (Config): The test config (changed in place).

    Raises:
        ValueError: One line naming what the config lacks and what to add.
    """
    what_to_add = dict(
        tta_pipeline='one, e.g. the tta_pipeline of '
        "configs/_base_/datasets/mini.py (mmseg's TestTimeAug over a Resize "
        'per scale, RandomFlip with prob 0 and 1, LoadAnnotations, '
        'PackSegInputs)',
        tta_model="tta_model = dict(type='SegTTAModel') (as "
        'configs/_base_/default_runtime.py sets it)')
    missing = [key for key in what_to_add if key not in cfg]
    if missing:
        raise ValueError(
            f"--tta: the config has no {' and no '.join(missing)}; add "
            + '; and '.join(what_to_add[key] for key in missing))
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def close_distributed() -> bool:
    """Close the process group, if one is open.

    Returns:
        bool: Whether one was open.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False


def exit_tool(status: Any = 0) -> None:
    """End a tool as ``sys.exit(status)`` does (an int, or a message for
    stderr and status 1), closing its process group first if one is open.
    A process that had one ends without the interpreter's finalization:
    gloo's threads outlive the group under DDP and can abort that
    finalization (SIGABRT, ``terminate called without an active
    exception``), see :func:`clst_mmseg.compat.exit_after_distributed`.
    Never returns."""
    if close_distributed():
        from clst_mmseg.compat import exit_after_distributed
        exit_after_distributed(status)
    sys.exit(status)
