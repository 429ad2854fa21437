# DACS, DeepLabV2 ResNet-101, synthia2cs: the reference network and init
# (deeplabv2_r101_dacs.py) and data protocol (synthia2cs_dacs.py) with the
# shared 40k schedule; protocol card: configs/_base_/protocols/dacs.yaml.
_base_ = [
    '../_base_/models/deeplabv2_r101_dacs.py',
    '../_base_/datasets/synthia2cs_dacs.py', '../_base_/uda/dacs.py',
    '../_base_/schedules/uda_40k.py', '../_base_/default_runtime.py'
]
reference_key = 'dacs'
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
# from the reference code (configUDA.json val_per_iter 5000,
# save_best_model): validation every 5000 iterations, the best model kept;
# the val curve gives that protocol-matched figure
train_cfg = dict(val_interval=5000)
# the trajectory points (label-free criteria, docs/model_selection.md) are
# those validations: 40000 / 5000
trajectory_points = 8
