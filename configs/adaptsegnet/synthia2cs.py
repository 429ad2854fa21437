# AdaptSegNet (multi-level), DeepLabV2 ResNet-101, synthia2cs: the reference
# network (deeplabv2_r101_adaptsegnet.py) and data protocol
# (synthia2cs_adaptsegnet.py) with the shared 40k schedule. The protocol card
# (configs/_base_/protocols/adaptsegnet.yaml, docs/protocols/) lists each
# fact with its source and the differences that remain.
_base_ = [
    '../_base_/models/deeplabv2_r101_adaptsegnet.py',
    '../_base_/datasets/synthia2cs_adaptsegnet.py',
    '../_base_/uda/adaptsegnet.py', '../_base_/schedules/uda_40k.py',
    '../_base_/default_runtime.py'
]
# the published number this config reproduces
# (clst_mmseg/benchmark/reference_numbers.csv)
reference_key = 'adaptsegnet'
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}},
    # the layer3 classifier: ResNet-101 layer3 has 1024 channels
    auxiliary_head=dict(in_channels=1024))
# The segmentor keeps the shared schedule's optimizer; the discriminators get
# their own Adam (uda fragment); the shared param_scheduler decays both.
optim_wrapper = dict(
    constructor='UDAOptimWrapperConstructor',
    discriminators={{_base_.discriminator_optim_wrapper}},
    # from the reference code: the layer3 classifier gets the main
    # classifier's 10x learning rate
    paramwise_cfg=dict(custom_keys=dict(auxiliary_head=dict(lr_mult=10.0))))
