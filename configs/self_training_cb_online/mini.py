# Online class-balanced self-training (per-batch thresholds, raw arg-max;
# configs/_base_/uda/self_training_cb_online.py) on the mini task: the
# variant configs/self_training_cb/mini.py used before CBST ran as released;
# kept to compare the two.
_base_ = [
    '../_base_/models/mini_deeplab.py', '../_base_/datasets/mini.py',
    '../_base_/uda/self_training_cb_online.py', '../_base_/schedules/mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
