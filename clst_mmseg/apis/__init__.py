from .config import load_config, prepare_run

__all__ = ['load_config', 'prepare_run']
