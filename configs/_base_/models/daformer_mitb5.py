# PLACEHOLDER written by helper i23-train so that the DAFormer-stack configs
# resolve before i23-arch's base lands: the real file (MiT-B5 with the
# DAFormer head and the converted ImageNet MiT-B5 weights, issue 23 item 1)
# replaces it when the branches are merged. Stand-in: mmseg's
# MixVisionTransformer at MiT-B5 size with mmseg's SegformerHead (256
# channels) in place of the DAFormer head. The task configs expect
# `segmentor` and `data_preprocessor` (512x512 batches) from this file.
crop_size = (512, 512)
data_preprocessor = dict(
    type='UDADataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=crop_size,
    pad_val=0,
    seg_pad_val=255)
norm_cfg = dict(type='BN', requires_grad=True)
segmentor = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 6, 40, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='PretrainedIfAvailable',
            checkpoint='checkpoints/mit_b5_mmseg.pth',
            source='placeholder: the converter of i23-arch')),
    decode_head=dict(
        type='SegformerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        # mmseg 0.16 (DAFormer's) averages the cross-entropy over every
        # pixel, ignored ones included
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=False),
        ignore_index=255),
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
