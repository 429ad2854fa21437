from .checkpoints import apply_resume, check_fits
from .config import close_distributed, load_config, prepare_run
from .errors import check_work_dir, one_line_errors

__all__ = [
    'apply_resume', 'check_fits', 'check_work_dir', 'close_distributed',
    'load_config', 'one_line_errors', 'prepare_run'
]
