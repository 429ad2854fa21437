# The built-in aerial task (docs/tasks.md): overhead tiles, a mostly urban,
# summer, true-colour source (GTA5 layout) and a mostly rural target towards
# winter and a false-colour camera (Cityscapes layout); 64x64 images, 8
# classes, 255 = no data. mini's pipelines and loaders on the aerial task's
# data, generated on first use into ~/.cache/clst_mmseg (or
# $CLST_MMSEG_DATA_DIR). The method configs (configs/<method>/aerial.py) are
# each method's mini config with these dataset types (mmengine allows no key
# in two bases, so they restate them; tests/test_aerial.py holds them equal).
_base_ = ['./mini.py']
train_dataloader = dict(
    dataset=dict(
        source=dict(type='AerialSourceDataset'),
        target=dict(type='AerialTargetDataset')))
val_dataloader = dict(dataset=dict(type='AerialTargetDataset'))
test_dataloader = val_dataloader
source_val_dataloader = dict(dataset=dict(type='AerialSourceDataset'))
