from .config import close_distributed, load_config, prepare_run

__all__ = ['close_distributed', 'load_config', 'prepare_run']
