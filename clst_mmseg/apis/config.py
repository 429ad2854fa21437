"""Config handling shared by ``tools/train.py``, ``tools/test.py`` and the
benchmark runner."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from clst_mmseg.datasets.verify import verify_config


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load a config as mmseg's tools do.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): ``--work-dir``; otherwise the config's
            ``work_dir`` or ``./work_dirs/<config name>``.
        launcher (str): Job launcher. Defaults to 'none'.

    Returns:
        Config: The merged config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def prepare_run(cfg: Config, verify: bool = True) -> None:
    """Checks to run before building a runner: the data roots, labels and
    class counts the config names (see :func:`verify_config`). Raises with a
    one-line message per problem before anything is trained or written."""
    if verify:
        verify_config(cfg)
