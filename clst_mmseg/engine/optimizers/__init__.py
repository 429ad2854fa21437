from .bfloat16_optim_wrapper import BFloat16OptimWrapper
from .uda_optim_constructor import UDAOptimWrapperConstructor

__all__ = ['BFloat16OptimWrapper', 'UDAOptimWrapperConstructor']
