# Pure self-training (fixed threshold), DeepLabV2 ResNet-101, gta2cs.
# Not the CBST paper's "ST" (global portion per round): that is
# configs/self_training_global/gta2cs.py.
_base_ = [
    '../_base_/models/deeplabv2_r101.py', '../_base_/datasets/gta2cs.py',
    '../_base_/uda/self_training.py', '../_base_/schedules/uda_40k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
