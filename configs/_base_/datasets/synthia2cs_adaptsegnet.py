# SYNTHIA -> Cityscapes with the AdaptSegNet / ADVENT data protocol: whole
# frames, no crop, no flip, batch 1. SYNTHIA at 1280x760 (its native size;
# the ADVENT authors' answer in valeoai/ADVENT issue #12 gives [1280, 760]
# as the only difference from the GTA5 setting), Cityscapes at 1024x512.
_base_ = ['./synthia2cs.py']
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 760), keep_ratio=False),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackUDAInputs'),
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        source=dict(pipeline=source_pipeline),
        target=dict(pipeline=target_pipeline)))
