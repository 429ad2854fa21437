"""A hook for the CBST DDP test: after training, every rank writes its
round state (thresholds and encoded label maps) to
``<work_dir>/cbst_rank<r>.pth``."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DumpCBSTRoundsHook(Hook):
    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        hook = next(h for h in runner.hooks
                    if type(h).__name__ == 'CBSTRoundHook')
        torch.save(dict(round=hook.round, thresholds=hook.thresholds,
                        labels=hook.store.state_dict()),
                   osp.join(runner.work_dir, f'cbst_rank{runner.rank}.pth'))
