# DeepLabV2 ResNet-101 as AdaptSegNet's reference code builds it
# (wasidennis/AdaptSegNet model/deeplab_multi.py): the shared model with the
# reference classifier, whose `return` inside the summation loop of
# Classifier_Module.forward sums the dilation-6 and -12 branches only. The
# init file is the shared one (AdaptSegNet's DeepLab init).
_base_ = ['./deeplabv2_r101.py']
segmentor = dict(decode_head=dict(branch_mode='first_two'))
