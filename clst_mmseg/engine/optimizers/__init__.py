from .uda_optim_constructor import UDAOptimWrapperConstructor

__all__ = ['UDAOptimWrapperConstructor']
