# CLST ablation: contrastive term only, with target centroids from the
# student's online predictions (no self-training, no ensemble).
_base_ = ['../mini.py']
model = dict(st_weight=0.0, cl_target_labels='online')
# row title in the ablation leaderboard
display_name = 'CLST: contrastive term only, online labels'
