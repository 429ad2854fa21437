# GTA5 -> Cityscapes with AdaptSegNet's data protocol, which ADVENT keeps
# (wasidennis/AdaptSegNet train_gta2cityscapes_multi.py: INPUT_SIZE
# '1280,720', INPUT_SIZE_TARGET '1024,512', BATCH_SIZE 1, --random-mirror
# and --random-scale off by default; valeoai/ADVENT config.py:
# INPUT_SIZE_SOURCE (1280, 720), INPUT_SIZE_TARGET (1024, 512),
# BATCH_SIZE_SOURCE/TARGET 1): whole frames, no crop, no flip, no scaling.
_base_ = ['./gta2cs.py']
# from the reference codes: the GTA5 image is resized to exactly 1280x720
# (PIL resize, aspect ratio not kept), its label with nearest neighbour
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 720), keep_ratio=False),
    dict(type='PackSegInputs'),
]
# from the reference codes: the whole Cityscapes frame at 1024x512, no flip
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
