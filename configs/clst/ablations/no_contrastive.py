# CLST ablation: without the contrastive term (self-training on the temporal
# ensemble only).
_base_ = ['../mini.py']
model = dict(cl_weight=0.0)
# row title in the ablation leaderboard
display_name = 'CLST without the contrastive term'
