# GTA5 -> Cityscapes with DAFormer's data protocol (lhoyer/DAFormer
# configs/_base_/datasets/uda_gta_to_cityscapes_512x512.py): GTA5 resized
# into 1280x720 keeping its aspect ratio (mmcv's Resize img_scale with
# keep_ratio, 1914x1052 -> 1280x703), a random 512x512 crop in which no class
# covers more than 75 %, a horizontal flip with p 0.5; Cityscapes resized to
# 1024x512, a random 512x512 crop, a flip with p 0.5; batch 2 + 2. Rare
# class sampling is DAFormer's training strategy: the task config sets it
# (train_dataloader.dataset.rare_class_sampling). Evaluation: Cityscapes val
# at 1024x512, labels at full resolution (cityscapes_val.py), as the
# release's test pipeline (img_scale (1024, 512), whole image).
_base_ = ['./gta2cs.py']
daformer_crop_size = (512, 512)  # (h, w)
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 720), keep_ratio=True),
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
