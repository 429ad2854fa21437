"""Experiment loggers (TensorBoard, W&B, ...) through mmengine's vis
backends, switched on from the command line.

``--cfg-options
visualizer.vis_backends=[LocalVisBackend,TensorboardVisBackend]`` gives the
backends by their mmengine type names; :func:`expand_vis_backends`
turns each name into ``dict(type=name)`` (``--cfg-options`` cannot write
dicts inside a list). Keep ``LocalVisBackend``: the benchmark reads its
``vis_data/scalars.json``.
"""
import importlib.util
from typing import Dict, Tuple

from mmengine.config import Config

#: Backend type -> packages of which one must be importable.
NEEDS: Dict[str, Tuple[str, ...]] = dict(
    TensorboardVisBackend=('tensorboard', 'tensorboardX'),
    WandbVisBackend=('wandb', ),
    MLflowVisBackend=('mlflow', ),
    ClearMLVisBackend=('clearml', ),
    NeptuneVisBackend=('neptune', ),
    DVCLiveVisBackend=('dvclive', ),
    AimVisBackend=('aim', ))
#: setup.py extra that installs a backend's package.
EXTRAS = dict(TensorboardVisBackend='tensorboard', WandbVisBackend='wandb')


def expand_vis_backends(cfg: Config) -> None:
    """Backend names in ``visualizer.vis_backends`` -> ``dict(type=name)``
    (in place)."""
    vis = cfg.get('visualizer')
    if not isinstance(vis, dict) or not isinstance(
            vis.get('vis_backends'), (list, tuple)):
        return
    vis['vis_backends'] = [
        dict(type=b) if isinstance(b, str) else b for b in vis['vis_backends']
    ]


def check_vis_backends(cfg: Config) -> None:
    """Fail with one line when a backend is not registered or its package
    is not installed (mmengine would fail at its first logged value, after
    the run started).

    Raises:
        ValueError: Naming the backend and how to install its package.
    """
    from mmengine.registry import VISBACKENDS
    vis = cfg.get('visualizer') or {}
    for i, backend in enumerate(vis.get('vis_backends') or []):
        name = backend.get('type') if isinstance(backend, dict) else backend
        key = f'visualizer.vis_backends.{i}'
        if not isinstance(name, str) or VISBACKENDS.get(name) is None:
            known = sorted(VISBACKENDS.module_dict)
            raise ValueError(f'{key}: unknown vis backend {name!r}; known: '
                             f'{known}')
        needs = NEEDS.get(name, ())
        if needs and not any(
                importlib.util.find_spec(p) is not None for p in needs):
            extra = EXTRAS.get(name)
            how = (f"pip install -e '.[{extra}]'" if extra else
                   f'pip install {needs[0]}')
            raise ValueError(f'{key}: {name} needs the {needs[0]} package, '
                             f'which is not installed ({how})')
