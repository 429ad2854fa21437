# Oracle for synthia2cs: the source-only objective trained on the labelled
# Cityscapes train split (an upper bound, not a UDA method).
_base_ = ['../source_only/synthia2cs.py']
oracle_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        source=dict(
            _delete_=True,
            type='CityscapesDataset',
            data_root={{_base_.cityscapes_root}},
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=oracle_pipeline)))
