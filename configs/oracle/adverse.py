# Oracle on the adverse task: the source-only objective trained on the
# labelled target train split (an upper bound for adaptation, not a UDA
# method); the mini oracle on the adverse task's data.
_base_ = ['./mini.py']
train_dataloader = dict(
    dataset=dict(
        source=dict(type='AdverseTargetDataset'),
        target=dict(type='AdverseTargetDataset')))
val_dataloader = dict(dataset=dict(type='AdverseTargetDataset'))
test_dataloader = val_dataloader
source_val_dataloader = dict(dataset=dict(type='AdverseSourceDataset'))
model = dict(segmentor=dict(decode_head=dict(num_classes=6)))
