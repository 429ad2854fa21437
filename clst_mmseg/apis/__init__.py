from .amp import amp_device_error, enable_amp
from .config import close_distributed, load_config, prepare_run

__all__ = [
    'amp_device_error', 'close_distributed', 'enable_amp', 'load_config',
    'prepare_run'
]
