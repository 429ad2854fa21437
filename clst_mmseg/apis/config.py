"""Config handling shared by ``tools/train.py``, ``tools/test.py`` and the
benchmark runner."""
import difflib
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmengine.config import Config

from clst_mmseg.engine.hooks import check_ensemble_pipeline
from .config_checks import check_config, merge_cfg_options
from .config_text import format_once
from .run_inputs import check_run_inputs
from .vis_backends import check_vis_backends, expand_vis_backends

# model sub-configs whose `type` lives in mmseg's MODELS registry
_MODEL_PARTS = ('segmentor', 'backbone', 'neck', 'decode_head',
                'auxiliary_head', 'data_preprocessor', 'loss_decode')


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load a config as mmseg's tools do.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides; each key
            must exist in the config unless written ``+key`` (see
            :func:`~.config_checks.merge_cfg_options`).
        work_dir (str, optional): ``--work-dir``; otherwise the config's
            ``work_dir`` or :func:`default_work_dir`.
        launcher (str): Job launcher. Defaults to 'none'.

    Returns:
        Config: The merged config (its text formatted once: see
        :class:`~.config_text.FormatOnceConfig`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = format_once(Config.fromfile(path))
    cfg.launcher = launcher
    merge_cfg_options(cfg, cfg_options)
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


def close_distributed() -> None:
    """Close the process group, if one is open, before the interpreter
    exits: gloo's threads can otherwise abort the exit (SIGABRT) of a run
    that finished."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
