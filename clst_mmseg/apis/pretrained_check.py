"""Stop a training whose pretrained weights file is missing, before
anything is built: a paper-scale config names the weights its reference
started from, and training it from random initialisation instead would
silently measure something else."""
import os.path as osp
from typing import List

from mmengine.config import Config

from clst_mmseg.apis.pretrained_config import (is_local,
                                               pretrained_entries)
from clst_mmseg.datasets.completeness import Problem

#: The way out when a weights file cannot be had.
RANDOM_INIT_HINT = ('set allow_random_init=True (--cfg-options '
                    'allow_random_init=True) to train from random '
                    'initialisation')


def pretrained_weights_problems(cfg: Config,
                                load: bool = False) -> List[Problem]:
    """The local pretrained checkpoints named by the model config that are
    missing (or, with ``load``, that do not load with
    ``torch.load(weights_only=True)``), unless the config sets
    ``allow_random_init=True``.

    URLs and ``torchvision://``-style checkpoints are not checked here (they
    are fetched when the model is built).

    Args:
        cfg (Config): The merged config.
        load (bool): Also load each file that exists (on the CPU, tensors
            only: what ``weights_only=True`` allows). Defaults to False.

    Returns:
        list[Problem]: One per file, naming the key and the file, with the
        entry's ``source`` (where the file comes from) as the fix.
    """
    if cfg.get('allow_random_init', False):
        return []
    problems = []
    for key, entry in pretrained_entries(cfg.get('model') or {}):
        ckpt = entry['checkpoint']
        if not is_local(ckpt):
            continue
        source = entry.get('source')
        fix = (f'{source}; or ' if source else '') + RANDOM_INIT_HINT
        if not osp.isfile(ckpt):
            problems.append(Problem(
                f'{key}: pretrained weights {ckpt} not found', fix))
        elif load:
            import torch
            try:
                torch.load(ckpt, map_location='cpu', weights_only=True)
            except Exception as e:  # any failure: the run would fail too
                problems.append(Problem(
                    f'{key}: pretrained weights {ckpt} do not load with '
                    f'torch.load(weights_only=True): {type(e).__name__}: '
                    f'{str(e).splitlines()[0] if str(e) else ""}', fix))
    return problems


def check_pretrained_weights(cfg: Config) -> None:
    """Raise when a local pretrained checkpoint named by the model config
    does not exist, unless the config sets ``allow_random_init=True``.

    Args:
        cfg (Config): The merged config.

    Raises:
        FileNotFoundError: One line naming the key, the file and where the
            file comes from (the entry's ``source``).
    """
    problems = pretrained_weights_problems(cfg)
    if problems:
        raise FileNotFoundError(f'{problems[0]}; {problems[0].fix}')
