"""Helpers of the tools: config loading and checks, checkpoints, one-line
errors, thread defaults, runner hooks, inference.

Each name is imported from its module on first use (PEP 562), so that the
light modules of this package (``threads``, ``config_checks``,
``os_errors``) can be imported without torch and mmseg, e.g. by the
benchmark layer.
"""
import importlib

#: Public name -> module that defines it.
_SOURCES = {
    'CheckpointMismatch': 'clst_mmseg.engine.hooks.checkpoint_identity_hook',
    'amp_device_error': 'clst_mmseg.apis.amp',
    'apply_resume': 'clst_mmseg.apis.checkpoints',
    'check_fits': 'clst_mmseg.apis.checkpoints',
    'check_run_inputs': 'clst_mmseg.apis.run_inputs',
    'check_work_dir': 'clst_mmseg.apis.errors',
    'close_distributed': 'clst_mmseg.apis.config',
    'config_amp_error': 'clst_mmseg.apis.amp',
    'enable_amp': 'clst_mmseg.apis.amp',
    'exit_tool': 'clst_mmseg.apis.config',
    'load_config': 'clst_mmseg.apis.config',
    'one_line_errors': 'clst_mmseg.apis.errors',
    'prepare_run': 'clst_mmseg.apis.config',
    'register_tool_hooks': 'clst_mmseg.apis.runner_hooks',
    'run_input_problems': 'clst_mmseg.apis.run_inputs',
    'set_tool_threads': 'clst_mmseg.apis.threads',
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(
            f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value
