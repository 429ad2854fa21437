"""A hook for the DDP tests: after training, every rank writes its model's
state dict and its optimizers' states to ``<work_dir>/weights_rank<r>.pth``
(the runner's checkpoints come from rank 0 only)."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DumpWeightsHook(Hook):
    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        torch.save(
            dict(state_dict=model.state_dict(),
                 optimizer=runner.optim_wrapper.state_dict()),
            osp.join(runner.work_dir, f'weights_rank{runner.rank}.pth'))
