"""Stops a training at its first non-finite loss or weight."""
import json
import math
import os
import os.path as osp
import tempfile
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

#: File the hook leaves in the work dir when it stops a run; the benchmark
#: reads it to record the run as failed (diverged) with the iteration.
from clst_mmseg.run_files import NON_FINITE_MARKER as MARKER


class NonFiniteError(FloatingPointError):
    """A loss or a weight became NaN or infinite."""


def first_non_finite(tensors: Dict[str, torch.Tensor]) -> Optional[str]:
    """The name of the first floating-point tensor holding a NaN or an inf,
    or None."""
    for name, value in tensors.items():
        if torch.is_tensor(value) and value.is_floating_point() and \
                not bool(torch.isfinite(value).all()):
            return name
    return None


def _write_marker(work_dir: str, info: Dict) -> None:
    """Write the marker atomically (temp file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=work_dir, prefix='.tmp-', suffix='.json')
    with os.fdopen(fd, 'w') as f:
        json.dump(info, f)
    os.replace(tmp, osp.join(work_dir, MARKER))


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training at the first non-finite loss term (every iteration, not
    only the logged ones) and refuse to write a checkpoint whose weights or
    buffers are not finite.

    On either it writes :data:`MARKER` (``where``: ``loss`` or ``weights``,
    ``iter`` counted from 1 as in the logs, ``key``, ``value``) into the work
    dir and raises :class:`NonFiniteError`, which ``tools/train.py`` reports
    in one line. ``tools/train.py`` adds this hook to every run whose config
    does not list it.

    Only log variables whose name contains ``loss`` are checked: mmengine
    sums exactly those into the loss that is back-propagated; other logged
    values (accuracies, pseudo-label coverage) may be NaN by design.

    Args:
        check_weights (bool): Check the checkpoint's ``state_dict`` before it
            is written. Defaults to True.
    """
    priority = 'ABOVE_NORMAL'  # before the logger and the checkpoint hook

    def __init__(self, check_weights: bool = True) -> None:
        self.check_weights = check_weights

    def _stop(self, runner, info: Dict, message: str) -> None:
        try:
            _write_marker(runner.work_dir, dict(info, rank=runner.rank))
        except OSError:
            pass  # the error below still stops the run
        raise NonFiniteError(message)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        # the terms first, so the message names the one that went bad
        items = sorted((outputs or {}).items(), key=lambda kv: kv[0] == 'loss')
        for key, value in items:
            if 'loss' not in key:
                continue
            if torch.is_tensor(value):
                finite = bool(torch.isfinite(value.detach()).all())
            else:
                finite = math.isfinite(float(value))
            if not finite:
                text = str(float(value.detach().float().mean()) if
                           torch.is_tensor(value) else float(value))
                it = runner.iter + 1
                self._stop(runner,
                           dict(where='loss', iter=it, key=key, value=text),
                           f'non-finite loss: {key} = {text} at iteration '
                           f'{it}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_weights:
            return
        state = checkpoint.get('state_dict') or {}
        name = first_non_finite(state)
        if name is not None:
            it = int((checkpoint.get('meta') or {}).get('iter',
                                                         runner.iter + 1))
            self._stop(
                runner, dict(where='weights', iter=it, key=name, value=None),
                f'non-finite weights: {name} holds NaN or inf at iteration '
                f'{it}; the checkpoint was not written')


def ensure_non_finite_check(runner) -> None:
    """Register :class:`NonFiniteCheckHook` on a built runner unless its
    config lists one already (configs that replace ``custom_hooks`` would
    otherwise lose it)."""
    if not any(isinstance(h, NonFiniteCheckHook) for h in runner.hooks):
        runner.register_hook(NonFiniteCheckHook())
