# MIC on DAFormer (MiT-B5 + DAFormer head), GTA5 -> Cityscapes: DAFormer's
# configuration (configs/daformer/gta2cs.py) plus MIC's masked consistency
# (uda/mic.py). Protocol card: configs/_base_/protocols/mic.yaml.
_base_ = [
    '../_base_/models/daformer_mitb5.py',
    '../_base_/datasets/gta2cs_daformer.py', '../_base_/uda/daformer.py',
    '../_base_/uda/mic.py', '../_base_/schedules/daformer_40k.py',
    '../_base_/default_runtime.py'
]
reference_key = 'mic_daformer'
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    **_base_.mic_model)
train_dataloader = dict(
    dataset=dict(rare_class_sampling=_base_.rare_class_sampling))
