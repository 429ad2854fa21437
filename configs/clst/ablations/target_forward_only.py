# CLST ablation (control): neither target term; the target batch still goes
# through the network in train mode, so this isolates what the target BN
# statistics alone do.
_base_ = ['../mini.py']
model = dict(cl_weight=0.0, st_weight=0.0)
# row title in the ablation leaderboard
display_name = 'CLST, no target loss (target BN statistics only)'
