# CLST ablation: self-training on online pseudo-labels (the current
# network's prediction on the plain target batch, same selection) instead of
# the temporal ensemble's; the contrastive term is unchanged.
_base_ = ['../mini.py']
model = dict(pseudo_label_source='online')
# row title in the ablation leaderboard
display_name = 'CLST, self-training on online labels'
