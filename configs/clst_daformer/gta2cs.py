# CLST on the DAFormer stack, GTA5 -> Cityscapes (beyond the paper: CLST ran
# DeepLabV2 ResNet-101 only): CLST's loss (uda/clst.py: centroid contrast +
# self-training on the temporal ensemble) with DAFormer's network
# (daformer_mitb5.py), data protocol (gta2cs_daformer.py, rare class
# sampling included) and optimisation (schedules/daformer_40k.py), where
# CLST does not say otherwise. Protocol card:
# configs/_base_/protocols/clst_daformer.yaml.
_base_ = [
    '../_base_/models/daformer_mitb5.py',
    '../_base_/datasets/gta2cs_daformer.py',
    '../_base_/uda/rare_class_sampling.py', '../_base_/uda/clst.py',
    '../_base_/schedules/daformer_40k.py', '../_base_/default_runtime.py'
]
# no published number: beyond the paper
reference_key = None
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    # ours: CLST's centroid feature is "the feature the classifier reads"
    # (DeepLabV2's ASPP classifier reads ResNet layer4); the DAFormer head's
    # classifier reads its fused 256-channel map at stride 4, not an
    # encoder stage, so the projection head takes that map (its in_channels
    # come from the decode head's channels). Its parameters match the
    # schedule's 'head' key: lr x10, like the decode head.
    feature_source='classifier_input',
    # assumed: the ensemble kept at the network's output resolution, as
    # uda/clst.py does for DeepLabV2 (stride 8): the DAFormer head predicts
    # at stride 4 of the 1024x512 Cityscapes frame -> 128x256 cells per
    # image (195 MB for 2975 images)
    ensemble=dict(memory_size=(128, 256)))
train_dataloader = dict(
    dataset=dict(rare_class_sampling=_base_.rare_class_sampling))
custom_hooks = _base_.common_custom_hooks + [_base_.temporal_ensemble_hook]
