from .. import compat  # noqa: F401  (applied on import, before mmseg)
from .data_preprocessors import UDADataPreProcessor
from .decode_heads import DAFormerHead, DeepLabV2Head
from .discriminators import FCDiscriminator
from .heads import ProjectionHead
from .losses import CentroidContrastiveLoss
from .pretrained_init import PretrainedIfAvailable
from .segmentors import UDASegmentor

__all__ = [
    'UDADataPreProcessor', 'DAFormerHead', 'DeepLabV2Head',
    'PretrainedIfAvailable', 'UDASegmentor', 'FCDiscriminator',
    'ProjectionHead', 'CentroidContrastiveLoss'
]
