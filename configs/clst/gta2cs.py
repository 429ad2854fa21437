# CLST, DeepLabV2 ResNet-101, gta2cs.
_base_ = [
    '../_base_/models/deeplabv2_r101.py', '../_base_/datasets/gta2cs.py',
    '../_base_/uda/clst.py', '../_base_/schedules/uda_40k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
custom_hooks = _base_.common_custom_hooks + [_base_.temporal_ensemble_hook]
