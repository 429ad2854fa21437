# SYNTHIA -> Cityscapes with DACS's data protocol. The released code
# trains GTA5 only (trainUDA.py loads 'gta'); assumed as for GTA5: SYNTHIA
# at its native 1280x760 and Cityscapes at 1024x512, random 512x512 crops,
# no flip, batch 2; validation against labels at 512x1024 (see
# gta2cs_dacs.py).
_base_ = ['./synthia2cs.py']
dacs_crop_size = (512, 512)  # (h, w)
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 760), keep_ratio=False),
    dict(type='RecordedRandomCrop', crop_size=dacs_crop_size),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='RecordedRandomCrop', crop_size=dacs_crop_size),
    dict(type='PackUDAInputs'),
]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        source=dict(pipeline=source_pipeline),
        target=dict(pipeline=target_pipeline)))
dacs_val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='ResizeLabelsForEval', scale=(1024, 512)),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=dacs_val_pipeline))
