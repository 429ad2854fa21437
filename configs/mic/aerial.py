# MIC on DAFormer on the built-in aerial task (overhead tiles: town ->
# countryside, summer -> winter, true -> false colour; CPU): the method's
# mini config, model and schedule on the aerial task's data (the dataset
# types of configs/_base_/datasets/aerial.py, 8 classes).
_base_ = ['./mini.py']
train_dataloader = dict(
    dataset=dict(
        source=dict(type='AerialSourceDataset'),
        target=dict(type='AerialTargetDataset')))
val_dataloader = dict(dataset=dict(type='AerialTargetDataset'))
test_dataloader = val_dataloader
source_val_dataloader = dict(dataset=dict(type='AerialSourceDataset'))
model = dict(
    segmentor=dict(decode_head=dict(num_classes=8)),
    # aerial's thing classes (building, car); the feature distance stays off
    fd_classes=[1, 7])
