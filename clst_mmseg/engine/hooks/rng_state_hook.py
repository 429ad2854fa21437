"""Keeps the random number generators in checkpoints."""
import random
from typing import Callable, Iterator

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def get_rng_state() -> dict:
    """The Python, numpy and torch (CPU) generator states as plain values
    (tensors, ints, floats), which ``torch.load(weights_only=True)``
    accepts."""
    _, key, pos, has_gauss, cached = np.random.get_state()
    return dict(
        python=random.getstate(),
        numpy=dict(key=torch.from_numpy(key.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        torch=torch.get_rng_state())


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`."""
    random.setstate(_as_tuples(state['python']))
    npst = state['numpy']
    np.random.set_state(('MT19937', npst['key'].numpy().astype(np.uint32),
                         npst['pos'], npst['has_gauss'],
                         npst['cached_gaussian']))
    torch.set_rng_state(state['torch'])


def _as_tuples(obj):
    """``random.setstate`` wants tuples where a round trip may give lists."""
    if isinstance(obj, (list, tuple)):
        return tuple(_as_tuples(x) for x in obj)
    return obj


class _RestoreAfterReplay:
    """Wraps the train loop's data iterator: after the ``replay`` batches
    that mmengine fetches to skip already-trained data on resume, calls
    ``restore`` once, right before the first new batch is fetched."""

    def __init__(self, iterator: Iterator, replay: int,
                 restore: Callable[[], None]):
        self._iterator = iterator
        self._replay = replay
        self._restore = restore

    def __next__(self):
        if self._replay == 0 and self._restore is not None:
            self._restore()
            self._restore = None
        self._replay -= 1
        return next(self._iterator)

    def __iter__(self):
        return self

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Makes ``--resume`` continue a run exactly, random streams included.

    mmengine re-seeds on resume and replays the data loader up to the resumed
    iteration: that reproduces the data, but not the random draws the model
    and the hooks made (dropout, random target augmentation, mixing masks).
    This hook saves the Python, numpy and torch generator states of every
    rank in each checkpoint and restores them right after the replay, before
    the first new batch is fetched. Validation is made neutral to the
    training streams (their states are put back after it), so a run does not
    depend on how often it was validated. The states load with
    ``torch.load(weights_only=True)``.

    Under DDP only rank 0 saves checkpoints (mmengine calls
    ``before_save_checkpoint`` on rank 0 alone), so every rank's states are
    gathered after each training iteration, right before the checkpoint
    hook (``VERY_LOW``, 90) runs, and rank 0 writes them all.
    """

    # after every other after_train_iter, right before CheckpointHook's
    priority = 89

    def __init__(self) -> None:
        self._pending = None
        self._before_val = None
        self._gathered = None  # (runner.iter, [state of each rank])

    def _gather(self, runner) -> None:
        if get_world_size() > 1:
            self._gathered = (runner.iter, all_gather_object(get_rng_state()))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._gather(runner)

    def after_train_epoch(self, runner) -> None:
        self._gather(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.setdefault('meta', {}).setdefault('rng_states', {})
        if self._gathered is not None and self._gathered[0] == runner.iter:
            for rank, state in enumerate(self._gathered[1]):
                states[str(rank)] = state
        else:
            states[str(runner.rank)] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        state = meta.get('rng_states', {}).get(str(runner.rank))
        self._pending = None if state is None else (meta.get('iter'), state)

    def before_train(self, runner) -> None:
        if self._pending is None:
            return
        (resume_iter, state), self._pending = self._pending, None
        # ``load_from`` also loads checkpoints; only a resume, which starts
        # at the checkpoint's iteration, continues its random streams.
        if runner.iter != resume_iter or resume_iter == 0:
            return
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # iteration-based: replay
            loop.dataloader_iterator = _RestoreAfterReplay(
                loop.dataloader_iterator, runner.iter,
                lambda: set_rng_state(state))
        else:  # epoch-based loops resume at an epoch boundary
            set_rng_state(state)

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None
