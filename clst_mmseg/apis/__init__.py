from clst_mmseg.engine.hooks.checkpoint_identity_hook import \
    CheckpointMismatch
from .amp import amp_device_error, config_amp_error, enable_amp
from .checkpoints import apply_resume, check_fits
from .config import close_distributed, load_config, prepare_run
from .errors import check_work_dir, one_line_errors
from .runner_hooks import register_tool_hooks
from .threads import set_tool_threads

__all__ = [
    'CheckpointMismatch', 'amp_device_error', 'apply_resume', 'check_fits',
    'check_work_dir', 'close_distributed', 'config_amp_error', 'enable_amp',
    'load_config', 'one_line_errors', 'prepare_run', 'register_tool_hooks',
    'set_tool_threads'
]
