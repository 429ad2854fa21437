from .. import compat  # noqa: F401  (applied on import, before mmseg)
from .titled_seg_visualizer import TitledSegVisualizer

__all__ = ['TitledSegVisualizer']
