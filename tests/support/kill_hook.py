"""A hook for the resume test: kills its own process with SIGKILL right
after the checkpoint of a given iteration was written (no clean-up runs, as
when a job is killed). Under DDP every rank waits at a barrier first, so
that rank 0 has finished writing the checkpoint before any rank dies."""
import os
import signal

import torch.distributed as dist
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    priority = 'LOWEST'  # after CheckpointHook has saved

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.kill_at:
            if dist.is_available() and dist.is_initialized():
                dist.barrier()
            os.kill(os.getpid(), signal.SIGKILL)
