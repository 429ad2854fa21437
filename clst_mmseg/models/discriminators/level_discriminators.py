"""The per-level discriminators of a multi-level adversarial model, as one
module."""
from typing import Dict

import torch.nn as nn
from torch import Tensor


class LevelDiscriminators(nn.ModuleDict):
    """One discriminator per output level (``main``, ``aux``), called on all
    levels at once.

    A ``ModuleDict`` (so state-dict keys stay ``<level>.<param>``) with a
    ``forward``: mmengine's ``MMSeparateDistributedDataParallel`` wraps each
    child of the model in its own DDP wrapper, and a DDP wrapper only
    synchronises the gradients of a step if the step calls its ``forward``.

    Args:
        discriminators (dict[str, nn.Module]): The discriminator of each
            level.
    """

    def forward(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Domain logits of each level.

        Args:
            maps (dict[str, Tensor]): The input map of some or all levels.

        Returns:
            dict[str, Tensor]: The discriminator output of each given level.
        """
        return {level: self[level](x) for level, x in maps.items()}
