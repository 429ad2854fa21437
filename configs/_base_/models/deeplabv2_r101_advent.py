# DeepLabV2 ResNet-101 as ADVENT's reference code builds it
# (valeoai/ADVENT advent/model/deeplabv2.py: every ASPP branch summed),
# started from ADVENT's init file (advent/scripts/configs/advent.yml
# TRAIN.RESTORE_FROM), which train.py loads with the same 'Scale.' key
# mapping as AdaptSegNet's DeepLab init.
_base_ = ['./deeplabv2_r101.py']
segmentor = dict(
    backbone=dict(init_cfg=[
        dict(type='Kaiming', layer='Conv2d'),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        dict(
            type='PretrainedIfAvailable',
            checkpoint='checkpoints/'
            'DeepLab_resnet_pretrained_imagenet_mmseg.pth',
            source="ADVENT's init (advent.yml TRAIN.RESTORE_FROM): download "
            'DeepLab_resnet_pretrained_imagenet.pth from '
            'https://github.com/valeoai/ADVENT/releases and run python '
            'tools/convert_weights/deeplabv2_resnet101.py '
            'DeepLab_resnet_pretrained_imagenet.pth '
            'checkpoints/DeepLab_resnet_pretrained_imagenet_mmseg.pth')
    ]))
