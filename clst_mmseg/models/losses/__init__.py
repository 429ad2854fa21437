from .centroid_contrastive_loss import (CentroidContrastiveLoss,
                                         batch_centroids, info_nce)
from .feature_distance import (ImageNetFeatureDistance,
                               downscale_label_ratio, masked_feature_distance)

__all__ = [
    'CentroidContrastiveLoss', 'batch_centroids', 'info_nce',
    'ImageNetFeatureDistance', 'downscale_label_ratio',
    'masked_feature_distance'
]
