# CLST on the DAFormer stack on the built-in mini task (CPU; beyond the
# paper): CLST's loss and its mini knobs (configs/clst/mini.py) with the
# small MiT + DAFormer head (mini_daformer.py), rare class sampling and
# DAFormer's optimisation structure (schedules/daformer_mini.py).
_base_ = [
    '../_base_/models/mini_daformer.py', '../_base_/datasets/mini.py',
    '../_base_/uda/rare_class_sampling.py', '../_base_/uda/clst.py',
    '../_base_/schedules/daformer_mini.py', '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    # ours: the DAFormer head's classifier input (see
    # configs/clst_daformer/gta2cs.py)
    feature_source='classifier_input',
    # as configs/clst/mini.py: a projection as narrow as the mini network
    projection_head=dict(channels=64, out_channels=64),
    contrastive_loss=dict(feat_channels=64),
    # stride-4 output of the 64x64 mini images
    ensemble=dict(memory_size=(16, 16)))
train_dataloader = dict(
    dataset=dict(rare_class_sampling=dict(
        _base_.rare_class_sampling,
        # assumed: as uda/daformer_cpu.py (the release's 3000 pixels of a
        # GTA5 label scaled to a 64x64 label)
        min_pixels=6)))
custom_hooks = _base_.common_custom_hooks + [_base_.temporal_ensemble_hook]
