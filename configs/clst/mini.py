# CLST on the built-in mini task (CPU).
_base_ = [
    '../_base_/models/mini_deeplab.py', '../_base_/datasets/mini.py',
    '../_base_/uda/clst.py', '../_base_/schedules/mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    # assumed: a projection as narrow as the mini network (64 channels)
    projection_head=dict(channels=64, out_channels=64),
    contrastive_loss=dict(feat_channels=64),
    # stride-4 output of the 64x64 mini images
    ensemble=dict(memory_size=(16, 16)))
# The warm-up is the base's warmup_ratio 0.25, as configs/self_training/mini.py
# (iteration 62 of mini's 250; by then the ensemble has seen each of the 500
# target images about once (8 per batch), ~4 times by the end of the run).
custom_hooks = _base_.common_custom_hooks + [_base_.temporal_ensemble_hook]
