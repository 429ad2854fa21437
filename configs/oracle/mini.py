# Oracle on the mini task: the source-only objective trained on the labelled
# target train split (an upper bound for adaptation, not a UDA method).
_base_ = ['../source_only/mini.py']
train_dataloader = dict(
    dataset=dict(
        source=dict(
            _delete_=True,
            type='MiniTargetDataset',
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline={{_base_.source_pipeline}})))
