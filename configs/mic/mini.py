# MIC on DAFormer on the built-in mini task (CPU): configs/daformer/mini.py
# plus MIC's masked consistency (uda/mic.py).
_base_ = [
    '../_base_/models/mini_daformer.py', '../_base_/datasets/mini.py',
    '../_base_/uda/daformer_cpu.py', '../_base_/uda/mic.py',
    '../_base_/schedules/daformer_mini.py', '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    **dict(
        _base_.mic_model,
        # assumed: the release's 32-pixel blocks of a 512x512 crop scaled
        # to the 64x64 crops (an 8x8 grid of blocks, as the release's 16x16)
        mask_block_size=4))
train_dataloader = dict(
    dataset=dict(rare_class_sampling=_base_.rare_class_sampling))
