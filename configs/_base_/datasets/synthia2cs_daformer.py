# SYNTHIA -> Cityscapes with DAFormer's data protocol (lhoyer/DAFormer
# configs/_base_/datasets/uda_synthia_to_cityscapes_512x512.py): SYNTHIA at
# 1280x760 (img_scale (1280, 760), its own size), random 512x512 crops with
# cat_max_ratio 0.75, flips with p 0.5; Cityscapes as for GTA5
# (gta2cs_daformer.py); batch 2 + 2.
_base_ = ['./synthia2cs.py']
daformer_crop_size = (512, 512)  # (h, w)
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 760), keep_ratio=True),
    dict(type='RecordedRandomCrop', crop_size=daformer_crop_size,
         cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='RecordedRandomCrop', crop_size=daformer_crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackUDAInputs'),
]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        source=dict(pipeline=source_pipeline),
        target=dict(pipeline=target_pipeline)))
