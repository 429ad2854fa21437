# Cityscapes val (500 images), the target-domain evaluation split of the real
# tasks: images resized to 1024x512 as in AdaptSegNet/CLST, IoU computed at
# the full 2048x1024 label resolution (predictions are resized back).
cityscapes_root = 'data/cityscapes/'
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=cityscapes_root,
        data_prefix=dict(
            img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
# mmseg.apis.init_model / inference_model read `test_pipeline` (without its
# LoadAnnotations).
test_pipeline = val_pipeline
# tools/test.py --tta: mmseg's SegTTAModel averages the softmax of every
# view, each scale x {as is, horizontally flipped}. Scales: mmseg 1.x's
# Cityscapes TTA ratios (configs/_base_/datasets/cityscapes.py) of the
# 1024x512 evaluation input. CBST's protocol is one scale, longer side 1850,
# with flipping (CBST issegm/evaluate.py: --test-scales 1850
# --test-flipping): a config sets tta_pipeline with scales [(1850, 925)].
tta_scales = [(int(1024 * r), int(512 * r))
              for r in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=s, keep_ratio=True)
             for s in tta_scales],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
