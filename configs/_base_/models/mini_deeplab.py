# The small CPU model of the mini task: a DeepLabV2-like network (ResNet-18
# layout at 1/8 width, output stride 4, ASPP classifier with dilations sized
# for 16x16 feature maps), ~0.2M parameters, random initialisation. Chosen
# with tools/mini_gap_check.py (source-only ~49 vs oracle ~69 target mIoU).
# A task config wraps it: model = dict(segmentor={{_base_.segmentor}},
# data_preprocessor={{_base_.data_preprocessor}}), with `model.type` and the
# method's knobs coming from configs/_base_/uda/<method>.py.
data_preprocessor = dict(
    type='UDADataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(64, 64),
    pad_val=0,
    seg_pad_val=255)
norm_cfg = dict(type='BN', requires_grad=True)
segmentor = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=8,
        base_channels=8,
        num_stages=4,
        out_indices=(2, 3),
        strides=(1, 1, 1, 1),
        dilations=(1, 2, 4, 8),
        contract_dilation=True,
        style='pytorch',
        norm_cfg=norm_cfg,
        norm_eval=False),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=64,
        in_index=1,
        dilations=(1, 3, 6, 9),
        num_classes=7,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True),
        ignore_index=255),
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
