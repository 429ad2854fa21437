# DAFormer, MiT-B5 + DAFormer head, GTA5 -> Cityscapes: DAFormer's network
# (daformer_mitb5.py), data protocol (gta2cs_daformer.py), training
# (uda/daformer.py: EMA 0.999, feature distance, pseudo-label crop margins;
# rare class sampling) and optimisation (schedules/daformer_40k.py).
# Protocol card: configs/_base_/protocols/daformer.yaml.
_base_ = [
    '../_base_/models/daformer_mitb5.py',
    '../_base_/datasets/gta2cs_daformer.py', '../_base_/uda/daformer.py',
    '../_base_/schedules/daformer_40k.py', '../_base_/default_runtime.py'
]
reference_key = 'daformer'
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
train_dataloader = dict(
    dataset=dict(rare_class_sampling=_base_.rare_class_sampling))
# from the release (the gta2cs config: evaluation interval 4000, the last
# checkpoint kept): validation every 4000 iterations (schedules/uda_40k.py),
# the last iterate reported
