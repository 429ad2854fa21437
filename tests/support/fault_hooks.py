"""Hooks that inject faults into a real training (tests of
clst_mmseg's reliability guarantees):

- ``PoisonWeightsHook``: fills one weight with NaN (or inf) after a given
  iteration, so the next iteration's loss is not finite; with
  ``loss=False`` only a BN running mean, which no training loss reads, so
  only the checkpoint's weights go bad.
- ``FullDiskHook``: makes checkpoint writes from a given iteration on fail
  with ``OSError(ENOSPC)`` after half of the bytes were written, as a disk
  that fills up does; with ``once`` (a file it creates) only in the first
  training, as a disk that was freed again before the retry.
"""
import errno
import os.path as osp
from typing import Optional

import torch
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class PoisonWeightsHook(Hook):
    priority = 'LOWEST'

    def __init__(self, at: int, loss: bool = True,
                 value: float = float('nan')) -> None:
        self.at, self.loss, self.value = at, loss, value

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 != self.at:
            return
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        with torch.no_grad():
            if self.loss:
                next(p for p in model.parameters()).fill_(self.value)
            else:  # a running mean: only the evaluated weights go bad
                buf = next(b for n, b in model.named_buffers()
                           if n.endswith('running_mean'))
                buf.fill_(self.value)


@HOOKS.register_module()
class FullDiskHook(Hook):
    priority = 'HIGHEST'

    def __init__(self, at: int, once: Optional[str] = None) -> None:
        self.at, self.once = at, once

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.at:
            return
        if self.once:
            if osp.exists(self.once):
                return
            open(self.once, 'w').close()

        def put(self, obj, filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError(errno.ENOSPC, 'No space left on device')

        LocalBackend.put = put
