from .pseudo_label import (class_balanced, class_balanced_thresholds,
                           confidence_threshold)
from .target_augment import PhotometricAugment

__all__ = [
    'confidence_threshold', 'class_balanced', 'class_balanced_thresholds',
    'PhotometricAugment'
]
