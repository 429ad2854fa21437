from .centroid_contrastive_loss import (CentroidContrastiveLoss,
                                         batch_centroids, info_nce)

__all__ = ['CentroidContrastiveLoss', 'batch_centroids', 'info_nce']
