# SYNTHIA-RAND-CITYSCAPES (labelled source, 9,400 images) -> Cityscapes
# train (unlabelled target, 2,975 images); evaluated on Cityscapes val over 16 and 13 classes
# (labels use the 19 Cityscapes train ids; terrain, truck and train are
# ignored in SYNTHIA).
_base_ = ['./cityscapes_val.py']
# How the SYNTHIA numbers are scored (clst_mmseg/synthia_scoring.py; each
# method's protocol card says which its paper used):
# 'subset19' trains a 19-class model and reports mIoU16 / mIoU13 as means of
# its IoUs over 16 / 13 classes, so terrain, truck and train pixels of
# Cityscapes val count against the classes predicted there; 'train16'
# trains and scores a 16-class model (those three classes are 255 in the
# Cityscapes ground truth too; configs/_base_/datasets/synthia16_classes.py).
synthia_scoring = 'subset19'
synthia_root = 'data/synthia/'
source_crop_size = (512, 1024)  # (h, w), assumed
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 760), keep_ratio=True),  # AdaptSegNet
    dict(type='RecordedRandomCrop', crop_size=source_crop_size,
         cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# The target keeps its whole 1024x512 frame (as in AdaptSegNet/CLST); flips
# are recorded (PackUDAInputs keeps the index and the geometry in the meta
# information) so per-image memories can undo them.
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackUDAInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            type='SynthiaDataset', data_root=synthia_root,
            pipeline=source_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root={{_base_.cityscapes_root}},
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=target_pipeline)))
val_evaluator = dict(
    type='SubsetIoUMetric', class_subsets=['mIoU16', 'mIoU13'])
test_evaluator = val_evaluator
