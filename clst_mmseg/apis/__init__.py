from clst_mmseg.engine.hooks.checkpoint_identity_hook import \
    CheckpointMismatch
from .amp import amp_device_error
from .config import close_distributed, load_config, prepare_run
from .runner_hooks import register_tool_hooks
from .threads import set_tool_threads

__all__ = [
    'CheckpointMismatch', 'amp_device_error', 'close_distributed',
    'load_config', 'prepare_run', 'register_tool_hooks', 'set_tool_threads'
]
