# GTA5 -> Cityscapes with DACS's data protocol (vikolss/DACS
# configs/configUDA.json: input_size "512,512", crop true, scale false,
# flip false, batch_size 2; trainUDA.py + data/augmentations.py): GTA5
# resized to 1280x720 then a random 512x512 crop (RandomCrop_gta),
# Cityscapes resized to half size (1024x512) then a random 512x512 crop
# (RandomCrop_city); no flip, no scaling. The batch padding size of the
# model (data_preprocessor.size) must match: deeplabv2_r101_dacs.py.
_base_ = ['./gta2cs.py']
dacs_crop_size = (512, 512)  # (h, w)
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 720), keep_ratio=False),
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
# Validation follows DACS's evaluation (trainUDA.py evaluate(...,
# input_size=(512,1024)), evaluateUDA.py): the 1024x512 image, scored against
# labels resized to 512x1024; its curve gives the protocol-matched
# (best-model, oracle-selected) figure. The headline test keeps the shared
# protocol (full-resolution labels, cityscapes_val.py's test_dataloader).
dacs_val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='ResizeLabelsForEval', scale=(1024, 512)),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=dacs_val_pipeline))
