# The built-in mini task: a procedurally generated "synthetic" source (GTA5
# layout) and a shifted "real" target (Cityscapes layout), 64x64 images,
# 7 classes. Generated on first use into ~/.cache/clst_mmseg (or
# $CLST_MMSEG_DATA_DIR) when data_root is left out.
crop_size = (64, 64)
# Training draws every image many times: the process keeps the decoded
# training images and labels in memory (~23 MB; Cached* = mmcv/mmseg's
# loaders with a cache: the same arrays, so the same training, without
# decoding them again).
source_pipeline = [
    dict(type='CachedLoadImageFromFile'),
    dict(type='CachedLoadAnnotations'),
    dict(type='RandomResize', scale=(64, 64), ratio_range=(1.0, 1.5),
         keep_ratio=True),
    dict(type='RecordedRandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='CachedLoadImageFromFile'),
    dict(type='RandomResize', scale=(64, 64), ratio_range=(1.0, 1.5),
         keep_ratio=True),
    dict(type='RecordedRandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackUDAInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# num_workers=0: mmengine's serialisation of the file lists (for sharing with
# workers) would only cost a gc.collect() per data set (~0.2 s each).
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            type='MiniSourceDataset',
            pipeline=source_pipeline,
            serialize_data=False),
        target=dict(
            type='MiniTargetDataset',
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=target_pipeline,
            serialize_data=False)))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='MiniTargetDataset',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=val_pipeline,
        serialize_data=False))
# A held-out labelled slice of the source (never trained on): the
# source-val criterion of CheckpointTrajectoryHook.
source_val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MiniSourceDataset', split='val',
                 pipeline=val_pipeline, serialize_data=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='SubsetIoUMetric')
test_evaluator = val_evaluator
# mmseg.apis.init_model / inference_model read `test_pipeline` (without its
# LoadAnnotations).
test_pipeline = val_pipeline
# tools/test.py --tta: mmseg's SegTTAModel averages the softmax of every
# view, each scale x {as is, horizontally flipped}. Scale ratios: mmseg 1.x's
# Cityscapes TTA ratios (configs/_base_/datasets/cityscapes.py), here of the
# 64x64 input.
tta_scale_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True)
             for r in tta_scale_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
