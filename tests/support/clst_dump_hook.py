"""A hook for the CLST DDP test: after training, every rank writes its
temporal-ensemble memory to ``<work_dir>/ensemble_rank<r>.pth``."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DumpEnsembleHook(Hook):
    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        hook = next(h for h in runner.hooks
                    if type(h).__name__ == 'TemporalEnsembleHook')
        torch.save(hook.memory.codes.clone(),
                   osp.join(runner.work_dir,
                            f'ensemble_rank{runner.rank}.pth'))
