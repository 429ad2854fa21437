# DAFormer (Hoyer et al., CVPR 2022): MiT-B5 encoder + DAFormer decoder with
# context-aware fusion, as lhoyer/DAFormer releases it
# (configs/_base_/models/daformer_sepaspp_mitb5.py on top of
# daformer_conv1_mitb5.py; the encoder: mmseg/models/backbones/
# mix_transformer.py, class mit_b5), started from SegFormer's ImageNet-1k
# MiT-B5 weights. lhoyer/MIC's seg/ holds the same three files unchanged.
# Built here from mmseg 1.x's MixVisionTransformer and our DAFormerHead
# (clst_mmseg/models/decode_heads/daformer_head.py).
#
# A task config wraps it: model = dict(segmentor={{_base_.segmentor}},
# data_preprocessor={{_base_.data_preprocessor}}), with `model.type` and the
# method's knobs coming from configs/_base_/uda/<method>.py.
#
# crop_size is (h, w). A dataset config that changes it must also restate
# `data_preprocessor = dict(size=crop_size)` and
# `model = dict(data_preprocessor=data_preprocessor)`, because the value below
# is bound when this file is read.
#
# from the release: 512x512 crops (configs/_base_/datasets/
# uda_gta_to_cityscapes_512x512.py crop_size and its Pad), ImageNet mean/std
# on RGB images (img_norm_cfg, to_rgb=True)
crop_size = (512, 512)
data_preprocessor = dict(
    type='UDADataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=crop_size,
    pad_val=0,
    seg_pad_val=255)
# from the release: BN in the decoder (daformer_conv1_mitb5.py norm_cfg,
# "BN instead of SyncBN" as in its segformer configs)
norm_cfg = dict(type='BN', requires_grad=True)
segmentor = dict(
    type='EncoderDecoder',
    backbone=dict(
        # mit_b5 of the release's mix_transformer.py in mmseg 1.x's terms:
        # embed_dims * num_heads = [64, 128, 320, 512] per stage,
        # depths [3, 6, 40, 3], heads [1, 2, 5, 8], sr_ratios [8, 4, 2, 1],
        # mlp_ratios 4, qkv_bias=True, LayerNorm eps 1e-6; overlapping patch
        # embeddings 7x7/4 then 3x3/2 (OverlapPatchEmbed in
        # MixVisionTransformer.__init__)
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 6, 40, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        # from the release: MixVisionTransformer's defaults, which mit_b5
        # and the configs keep: drop_rate=0, attn_drop_rate=0,
        # drop_path_rate=0.1 (stochastic depth, linear over the 52 blocks);
        # mmseg 1.x's default drop_path_rate is 0, hence stated here
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        act_cfg=dict(type='GELU'),
        norm_cfg=dict(type='LN', eps=1e-6),
        # The SegFormer ImageNet-1k weights the release loads into the
        # encoder (daformer_conv1_mitb5.py pretrained='pretrained/mit_b5.pth'),
        # converted to mmseg 1.x's key names by tools/convert_weights/mit.py.
        # A training whose file is missing stops before it starts unless
        # allow_random_init=True (default_runtime.py); then the encoder keeps
        # the initialisers listed before it, which follow mmseg's own MiT
        # init (truncated normal std 0.02 for linear layers, LayerNorm 1/0,
        # He-normal fan-out for convs; mmseg's MiT divides a depthwise conv's
        # fan-out by its groups, Kaiming does not).
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
            dict(type='Kaiming', layer='Conv2d', mode='fan_out',
                 nonlinearity='relu', distribution='normal', bias=0.0),
            dict(
                type='PretrainedIfAvailable',
                checkpoint='checkpoints/mit_b5_mmseg.pth',
                source="SegFormer's ImageNet-1k MiT-B5 (the release's "
                'pretrained/mit_b5.pth, tools/download_checkpoints.sh; '
                'NVlabs/SegFormer README, "Training"): download mit_b5.pth '
                'and run python tools/convert_weights/mit.py mit_b5.pth '
                'checkpoints/mit_b5_mmseg.pth')
        ]),
    decode_head=dict(
        type='DAFormerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        # from the release (daformer_conv1_mitb5.py): 256 channels after the
        # fusion, embed_dims=256 per level (embed_cfg / embed_neck_cfg: 'mlp',
        # no norm, no activation), dropout 0.1 before conv_seg
        channels=256,
        embed_dims=256,
        # from the release (daformer_sepaspp_mitb5.py fusion_cfg):
        # type='aspp', sep=True, dilations=(1, 6, 12, 18), pool=False,
        # ReLU, BN
        fusion_dilations=(1, 6, 12, 18),
        fusion_separable=True,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU'),
        align_corners=False,
        # from the release: mmseg 0.16's CrossEntropyLoss averages over every
        # pixel, ignored ones counting 0 (weight_reduce_loss without an
        # avg_factor): avg_non_ignore=False in mmseg 1.x
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=False),
        ignore_index=255),
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
