# DeepLabV2 (ResNet-101 + ASPP classifier) as the reference UDA codes build
# it (wasidennis/AdaptSegNet model/deeplab_multi.py, valeoai/ADVENT
# advent/model/deeplabv2.py, vikolss/DACS model/deeplabv2.py), started from
# the ImageNet+MSCOCO DeepLab-v2 weights (init.caffemodel converted to
# PyTorch). The protocol cards (docs/protocols/) list, per method, what its
# reference did and which config key holds it here.
#
# A task config wraps it: model = dict(segmentor={{_base_.segmentor}},
# data_preprocessor={{_base_.data_preprocessor}}), with `model.type` and the
# method's knobs coming from configs/_base_/uda/<method>.py. A method whose
# reference differs in the network (ASPP branches, init file) has its own
# model base inheriting this one (deeplabv2_r101_<method>.py).
#
# crop_size is (h, w). A dataset config that changes it must also restate
# `data_preprocessor = dict(size=crop_size)` and
# `model = dict(data_preprocessor=data_preprocessor)`, because the value below
# is bound when this file is read.
crop_size = (512, 1024)
# from the reference codes: the Caffe DeepLab weights expect BGR images in
# 0-255 minus the Caffe mean, not divided by a std (IMG_MEAN in
# AdaptSegNet's train_gta2cityscapes_multi.py, ADVENT's config.py, DACS's
# trainUDA.py); mmseg's loader reads BGR, so no channel swap.
data_preprocessor = dict(
    type='UDADataPreProcessor',
    mean=[104.00698793, 116.66876762, 122.67891434],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    size=crop_size,
    pad_val=0,
    seg_pad_val=255)
# from the reference codes: BN affine parameters frozen (requires_grad =
# False in every Bottleneck), the network in train() mode: BN normalises with
# the batch statistics and updates its running statistics (norm_eval=False).
norm_cfg = dict(type='BN', requires_grad=False)
segmentor = dict(
    type='EncoderDecoder',
    backbone=dict(
        # Single 7x7 stem (not ResNetV1c), as the Caffe ResNet-101.
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(2, 3),  # layer3 (1024 ch, for an auxiliary classifier)
        # and layer4 (2048 ch, for the ASPP head)
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),  # output stride 8
        contract_dilation=False,
        # from the reference codes: the stride of a bottleneck sits on its
        # first 1x1 conv (Caffe ResNet), which the DeepLab weights assume
        style='caffe',
        norm_cfg=norm_cfg,
        norm_eval=False,
        # Kaiming/constant first, then the weights file the references start
        # from, converted to this backbone's key names by
        # tools/convert_weights/deeplabv2_resnet101.py; `source` says where
        # the original comes from. A training whose file is missing stops
        # before it starts unless allow_random_init=True (then the Kaiming
        # init stays; default_runtime.py).
        init_cfg=[
            dict(type='Kaiming', layer='Conv2d'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            dict(
                type='PretrainedIfAvailable',
                checkpoint='checkpoints/'
                'DeepLab_resnet_pretrained_init-f81d91e8_mmseg.pth',
                source='the ImageNet+MSCOCO DeepLab-v2 init of AdaptSegNet '
                '(train_gta2cityscapes_multi.py RESTORE_FROM): download '
                'http://vllab.ucmerced.edu/ytsai/CVPR18/'
                'DeepLab_resnet_pretrained_init-f81d91e8.pth and run python '
                'tools/convert_weights/deeplabv2_resnet101.py '
                'DeepLab_resnet_pretrained_init-f81d91e8.pth checkpoints/'
                'DeepLab_resnet_pretrained_init-f81d91e8_mmseg.pth')
        ]),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=1,
        channels=None,  # unused: the ASPP maps features straight to logits
        dilations=(6, 12, 18, 24),
        # 'sum_all': every branch summed, as DeepLab-v2 and ADVENT's
        # ClassifierModule; AdaptSegNet's and DACS's reference code sums the
        # first two only ('first_two', their model bases)
        branch_mode='sum_all',
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
