# DeepLabV2 ResNet-101 as CBST's PyTorch release trains it (yzou2/CRST
# crst_seg.py, deeplab/model.py): every ASPP branch summed, BN affine
# frozen and, because cbst.sh does not pass --is-training, the network
# retrained in eval() mode: BN keeps using (and never updates) its running
# statistics (norm_eval=True), unlike AdaptSegNet / ADVENT / DACS.
_base_ = ['./deeplabv2_r101.py']
segmentor = dict(backbone=dict(norm_eval=True))
