"""Hooks our tools add to every runner they build, outside the config (so
the config a run dumps, and hashes, is the one it was given)."""
from mmengine.runner import Runner

from clst_mmseg.engine.hooks import (CheckpointIdentityHook,
                                     CodeFingerprintHook, MemoryGrowthHook,
                                     ResumeScheduleHook, SplitTitleHook)


def register_tool_hooks(runner: Runner) -> None:
    """Add :class:`CheckpointIdentityHook` (checkpoints say which model and
    config wrote them; loading another one stops with one line unless the
    config sets ``allow_checkpoint_mismatch=True``),
    :class:`MemoryGrowthHook` (host memory that training adds),
    :class:`SplitTitleHook` (the printed tables name their split),
    :class:`ResumeScheduleHook` (what a resume with another ``max_iters``
    changes) and :class:`CodeFingerprintHook` (the code that trains,
    written to ``<work_dir>/code_fingerprint.json`` when training starts
    and ends)."""
    runner.register_hook(
        CheckpointIdentityHook(
            allow_mismatch=bool(runner.cfg.get('allow_checkpoint_mismatch',
                                               False))))
    runner.register_hook(MemoryGrowthHook())
    runner.register_hook(SplitTitleHook())
    runner.register_hook(ResumeScheduleHook())
    runner.register_hook(CodeFingerprintHook())
