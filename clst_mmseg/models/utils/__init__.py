from .pseudo_label import (class_balanced, class_balanced_thresholds,
                           confidence_threshold)
from .target_augment import PhotometricAugment
from .classmix import class_mix_masks, mix
from .masking import block_mask, mask_image

__all__ = [
    'confidence_threshold', 'class_balanced', 'class_balanced_thresholds',
    'PhotometricAugment', 'class_mix_masks', 'mix',
    'block_mask', 'mask_image'
]
