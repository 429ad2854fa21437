"""A hook for the Slurm tests: holds a training after the checkpoint of a
given iteration was written, for as long as a hold file exists, so that a
test can cancel or requeue the job at a known iteration (no race with a
training that would otherwise run on to its end).

The hold file is ``$CLST_TEST_GATE_DIR/<work dir name>.hold`` (the work dir
of a benchmark run is named after its run id); while holding, the hook
writes ``<work dir name>.held`` there. Without the variable or the file the
hook does nothing, so a config with it trains exactly as one without.
"""
import os
import os.path as osp
import time

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

#: Environment variable naming the folder of the hold files.
GATE_DIR_ENV = 'CLST_TEST_GATE_DIR'


@HOOKS.register_module()
class HoldAfterIterHook(Hook):
    """Hold the training after iteration ``at`` while a hold file exists.

    Args:
        at (int): Iteration (1-based) after which to hold.
    """
    priority = 'LOWEST'  # after CheckpointHook has saved

    def __init__(self, at: int) -> None:
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        gate = os.environ.get(GATE_DIR_ENV)
        if not gate or runner.iter + 1 != self.at:
            return
        name = osp.basename(osp.normpath(runner.work_dir))
        hold = osp.join(gate, f'{name}.hold')
        if not osp.exists(hold):
            return
        with open(osp.join(gate, f'{name}.held'), 'w') as f:
            f.write(f'{os.getpid()}\n')
        while osp.exists(hold):
            time.sleep(0.2)
