# DeepLabV2 ResNet-101 as DACS's reference code builds it
# (vikolss/DACS model/deeplabv2.py: Classifier_Module returns inside its
# loop, so only the dilation-6 and -12 branches are summed), started from
# the COCO DeepLab weights of configs/configUDA.json "pretrained": "coco"
# (trainUDA.py: resnet101COCO-41f33a49.pth, loaded by name and shape).
_base_ = ['./deeplabv2_r101.py']
# from the reference code: 512x512 crops on both domains (configUDA.json
# input_size), so batches are padded to that size, not the shared 512x1024
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
segmentor = dict(
    backbone=dict(init_cfg=[
        dict(type='Kaiming', layer='Conv2d'),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        dict(
            type='PretrainedIfAvailable',
            checkpoint='checkpoints/resnet101COCO-41f33a49_mmseg.pth',
            source="DACS's init (configUDA.json \"pretrained\": \"coco\", "
            'trainUDA.py): download http://vllab1.ucmerced.edu/~whung/'
            'adv-semi-seg/resnet101COCO-41f33a49.pth and run python '
            'tools/convert_weights/deeplabv2_resnet101.py '
            'resnet101COCO-41f33a49.pth '
            'checkpoints/resnet101COCO-41f33a49_mmseg.pth')
    ]),
    decode_head=dict(branch_mode='first_two'))
