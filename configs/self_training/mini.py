# Pure self-training (fixed threshold) on the built-in mini task (CPU).
# Not the CBST paper's "ST" (global portion per round): that is
# configs/self_training_global/mini.py.
_base_ = [
    '../_base_/models/mini_deeplab.py', '../_base_/datasets/mini.py',
    '../_base_/uda/self_training.py', '../_base_/schedules/mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
