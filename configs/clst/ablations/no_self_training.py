# CLST ablation: without the self-training term (contrastive term only; the
# target centroids still use the temporal ensemble's labels, from the same
# warm-up on).
_base_ = ['../mini.py']
model = dict(st_weight=0.0)
# row title in the ablation leaderboard
display_name = 'CLST without self-training (contrast only)'
