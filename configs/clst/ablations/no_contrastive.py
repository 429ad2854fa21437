# CLST ablation: without the contrastive term, i.e. self-training with the
# temporal ensemble's labels. It differs from configs/self_training/mini.py
# in the label source only (same threshold, target augmentation, loss,
# weight and warm-up; tests/test_clst_configs.py holds the two together);
# docs/methods/clst.md lists what else differs.
_base_ = ['../mini.py']
model = dict(cl_weight=0.0)
# row title in the ablation leaderboard
display_name = 'CLST without the contrastive term (= ensemble self-training)'
