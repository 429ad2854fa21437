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
