# ADVENT (AdvEnt+MinEnt, trained jointly) on the built-in mini task (CPU).
_base_ = [
    '../_base_/models/mini_deeplab.py', '../_base_/datasets/mini.py',
    '../_base_/uda/advent.py', '../_base_/schedules/mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    # the layer3 classifier: layer3 of the 1/8-width ResNet-18 has 32 channels
    auxiliary_head=dict(in_channels=32),
    # assumed: discriminators at 1/8 width, like the mini backbone (the
    # paper's 64-512 would have ~14x the segmentor's parameters per level)
    discriminator=dict(channels=(8, 16, 32, 64)))
# The segmentor keeps the shared schedule's optimizer; the discriminators get
# their own Adam (uda fragment); the shared param_scheduler decays both.
optim_wrapper = dict(
    constructor='UDAOptimWrapperConstructor',
    discriminators={{_base_.discriminator_optim_wrapper}})
