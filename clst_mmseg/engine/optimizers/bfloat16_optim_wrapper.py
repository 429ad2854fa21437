"""Mixed precision in bfloat16 without a GPU."""
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from mmseg.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BFloat16OptimWrapper(OptimWrapper):
    """An :class:`OptimWrapper` whose forward runs under bfloat16 autocast
    (mmengine's ``autocast``), on any device, the CPU included.

    mmengine's ``AmpOptimWrapper`` refuses to be built without a GPU (an
    assertion in its constructor) although its ``autocast`` supports CPU
    bfloat16. This wrapper is what ``--amp`` uses on a CPU-only machine when
    bfloat16 is asked for (see :func:`clst_mmseg.apis.enable_amp`). It has no
    loss scaler: bfloat16 keeps float32's exponent range, so gradients do not
    underflow the way float16 ones do. Parameters, gradients and optimizer
    states stay float32.

    Args:
        dtype (str or torch.dtype): Must be bfloat16 (the key
            ``AmpOptimWrapper`` reads, so one config serves both).
            Defaults to 'bfloat16'.
        **kwargs: Arguments of :class:`OptimWrapper`.
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs):
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError('optim_wrapper.dtype: BFloat16OptimWrapper '
                             f'runs bfloat16 only, got {dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context (gradient accumulation) under bfloat16
        autocast.

        Args:
            model (nn.Module): The training model.
        """
        with super().optim_context(model), autocast(dtype=self.cast_dtype):
            yield
