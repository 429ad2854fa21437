from .uda_segmentor import UDASegmentor

__all__ = ['UDASegmentor']
