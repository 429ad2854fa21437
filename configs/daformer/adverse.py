# DAFormer on the built-in adverse task (clear day -> night, fog, rain;
# CPU): the method's mini config, model and schedule on the adverse task's
# data (6 classes).
_base_ = ['./mini.py']
train_dataloader = dict(
    dataset=dict(
        source=dict(type='AdverseSourceDataset'),
        target=dict(type='AdverseTargetDataset')))
val_dataloader = dict(dataset=dict(type='AdverseTargetDataset'))
test_dataloader = val_dataloader
source_val_dataloader = dict(dataset=dict(type='AdverseSourceDataset'))
model = dict(
    segmentor=dict(decode_head=dict(num_classes=6)),
    # adverse's thing classes (traffic light, traffic sign, person, car);
    # the feature distance stays off
    fd_classes=[2, 3, 4, 5])
