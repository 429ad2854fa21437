"""Keeps the random number generators in checkpoints."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Saves the Python, numpy and torch RNG states in each checkpoint and
    restores them when training resumes.

    mmengine re-seeds on resume and then replays the data loader up to the
    resumed iteration, which reproduces the data but not the draws the model
    made (dropout, random target augmentation, pairing in the main process).
    The states are restored just before the first resumed iteration, after
    that replay, so a resumed run continues exactly as an uninterrupted one.
    States are stored per rank as plain tensors and ints, which load with
    ``torch.load(weights_only=True)``.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        np_state = np.random.get_state()
        checkpoint.setdefault('meta', {})
        states = checkpoint['meta'].setdefault('rng_states', {})
        states[str(runner.rank)] = dict(
            python=random.getstate(),
            numpy=dict(key=torch.from_numpy(np_state[1].astype(np.int64)),
                       pos=int(np_state[2]), has_gauss=int(np_state[3]),
                       cached_gaussian=float(np_state[4])),
            torch=torch.get_rng_state(),
        )

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        state = meta.get('rng_states', {}).get(str(runner.rank))
        # ``load_from`` also loads a checkpoint; only a resume (which starts
        # at the checkpoint's iteration) continues its random streams.
        self._pending = None if state is None else (meta.get('iter'), state)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        (resume_iter, state), self._pending = self._pending, None
        if runner.iter != resume_iter:
            return
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
