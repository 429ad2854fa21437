# DAFormer on the built-in mini task (CPU): the small MiT with the DAFormer
# head (mini_daformer.py) and DAFormer's training strategies where they mean
# something without ImageNet weights (uda/daformer_cpu.py): rare class
# sampling, the schedule's warm-up, poly decay and head lr x10. The feature
# distance is off: it needs an ImageNet-pretrained encoder, which the CPU
# tasks do not have (they train from random initialisation).
_base_ = [
    '../_base_/models/mini_daformer.py', '../_base_/datasets/mini.py',
    '../_base_/uda/daformer_cpu.py', '../_base_/schedules/daformer_mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
train_dataloader = dict(
    dataset=dict(rare_class_sampling=_base_.rare_class_sampling))
