"""Stop a training whose pretrained weights file is missing, before
anything is built: a paper-scale config names the weights its reference
started from, and training it from random initialisation instead would
silently measure something else."""
import os.path as osp

from mmengine.config import Config

from clst_mmseg.benchmark.initialisation import is_local, pretrained_entries


def check_pretrained_weights(cfg: Config) -> None:
    """Raise when a local pretrained checkpoint named by the model config
    does not exist, unless the config sets ``allow_random_init=True``.

    URLs and ``torchvision://``-style checkpoints are not checked here (they
    are fetched when the model is built).

    Args:
        cfg (Config): The merged config.

    Raises:
        FileNotFoundError: One line naming the key, the file and where the
            file comes from (the entry's ``source``).
    """
    if cfg.get('allow_random_init', False):
        return
    for key, entry in pretrained_entries(cfg.get('model') or {}):
        ckpt = entry['checkpoint']
        if is_local(ckpt) and not osp.isfile(ckpt):
            source = entry.get('source')
            raise FileNotFoundError(
                f'{key}: pretrained weights {ckpt} not found'
                + (f'; {source}' if source else '')
                + '; or set allow_random_init=True (--cfg-options '
                'allow_random_init=True) to train from random '
                'initialisation')
