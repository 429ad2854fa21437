# Oracle on the aerial task: the source-only objective trained on the
# labelled target train split (an upper bound for adaptation, not a UDA
# method); the mini oracle on the aerial task's data (8 classes).
_base_ = ['./mini.py']
train_dataloader = dict(
    dataset=dict(
        source=dict(type='AerialTargetDataset'),
        target=dict(type='AerialTargetDataset')))
val_dataloader = dict(dataset=dict(type='AerialTargetDataset'))
test_dataloader = val_dataloader
source_val_dataloader = dict(dataset=dict(type='AerialSourceDataset'))
model = dict(segmentor=dict(decode_head=dict(num_classes=8)))
