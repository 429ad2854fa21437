"""The feature map an mmseg decode head's classifier reads."""
import contextlib
from typing import Iterator, List

from torch import Tensor, nn


@contextlib.contextmanager
def capture_classifier_input(head: nn.Module) -> Iterator[List[Tensor]]:
    """While the block runs, every forward pass of ``head`` appends the
    feature map its classifier reads to the yielded list: the input of
    ``head.dropout`` when the head has one (mmseg's ``cls_seg`` applies it
    before ``conv_seg``), else of ``head.conv_seg``. The map keeps its
    gradient.

    Args:
        head (BaseDecodeHead): An mmseg decode head.

    Yields:
        list[Tensor]: The captured maps, one per forward pass.
    """
    module = getattr(head, 'dropout', None) or getattr(head, 'conv_seg',
                                                       None)
    if module is None:
        raise ValueError(f'{type(head).__name__} has no conv_seg classifier '
                         '(an mmseg BaseDecodeHead has one)')
    got: List[Tensor] = []
    handle = module.register_forward_pre_hook(
        lambda _, args: got.append(args[0]))
    try:
        yield got
    finally:
        handle.remove()
