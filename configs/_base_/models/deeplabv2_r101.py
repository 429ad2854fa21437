# DeepLabV2 (ResNet-101 + ASPP classifier), the segmentation network of
# AdaptSegNet, ADVENT, CBST and CLST.
#
# A task config wraps it: model = dict(segmentor={{_base_.segmentor}},
# data_preprocessor={{_base_.data_preprocessor}}), with `model.type` and the
# method's knobs coming from configs/_base_/uda/<method>.py.
#
# crop_size is (h, w). A dataset config that changes it must also restate
# `data_preprocessor = dict(size=crop_size)` and
# `model = dict(data_preprocessor=data_preprocessor)`, because the value below
# is bound when this file is read.
crop_size = (512, 1024)
norm_cfg = dict(type='BN', requires_grad=False)
data_preprocessor = dict(
    type='UDADataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet statistics (RGB)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=crop_size,
    pad_val=0,
    seg_pad_val=255)
segmentor = dict(
    type='EncoderDecoder',
    backbone=dict(
        # Plain torchvision-style ResNet (single 7x7 stem), not ResNetV1c:
        # the ImageNet weights DeepLabV2 UDA methods start from.
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(2, 3),  # layer3 (1024 ch, for an auxiliary classifier)
        # and layer4 (2048 ch, for the ASPP head)
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),  # output stride 8
        contract_dilation=False,
        style='pytorch',
        # Frozen BN (running statistics and affine parameters), as in the
        # DeepLabV2 of AdaptSegNet/ADVENT/CLST: batches of 1-2 crops per GPU
        # are too small to train BN.
        norm_cfg=norm_cfg,
        norm_eval=True,
        # Without network the ImageNet checkpoint is skipped with a warning
        # and the backbone keeps mmseg's usual Kaiming/constant init.
        init_cfg=[
            dict(type='Kaiming', layer='Conv2d'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            dict(
                type='PretrainedIfAvailable',
                checkpoint='torchvision://resnet101')
        ]),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=1,
        channels=None,  # unused: the ASPP maps features straight to logits
        dilations=(6, 12, 18, 24),
        num_classes=19,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss',
                         use_sigmoid=False,
                         loss_weight=1.0,
                         avg_non_ignore=True),
        ignore_index=255),
    # AdaptSegNet's multi-level variant adds a layer3 classifier here.
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
