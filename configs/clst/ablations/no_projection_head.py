# CLST ablation: no projection head; the centroids are taken on the decode
# head's input feature itself (64 channels on mini), which the projection
# cannot separate on its own.
_base_ = ['../mini.py']
model = dict(projection_head=None, contrastive_loss=dict(feat_channels=64))
# row title in the ablation leaderboard
display_name = 'CLST without the projection head'
