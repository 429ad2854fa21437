# DAFormer's training strategies on the mini DeepLab model (CPU): the
# configuration of configs/daformer/mini.py with the network every other
# method of the CPU tasks trains (mini_deeplab.py), so that a table
# separates DAFormer's architecture (configs/daformer/mini.py vs this) from
# its recipe (this vs configs/dacs/mini.py).
_base_ = [
    '../_base_/models/mini_deeplab.py', '../_base_/datasets/mini.py',
    '../_base_/uda/daformer_cpu.py', '../_base_/schedules/daformer_mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
train_dataloader = dict(
    dataset=dict(rare_class_sampling=_base_.rare_class_sampling))
