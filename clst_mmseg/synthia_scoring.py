"""How SYNTHIA -> Cityscapes numbers are scored: the conventions a config's
``synthia_scoring`` key names.

Papers differ: some train a 19-class model and report the means of its IoUs
over the 16 and 13 classes SYNTHIA shares with Cityscapes (DACS's release,
DAFormer), others train and score a 16-class model whose three missing
classes are ignored in the target ground truth too (CBST/CRST; ADVENT, via
the authors' DADA code). Each method's protocol card says which its paper
used. A plain module without imports, so that the datasets' checks and the
benchmark's tables share it.
"""
from typing import Dict

#: Convention key -> the classifier's class count and what the leaderboard
#: says about it.
SYNTHIA_SCORING: Dict[str, Dict] = {
    'subset19': dict(
        num_classes=19,
        short='19-class model, 16/13-class means',
        text='a 19-class model; mIoU16 and mIoU13 are means of its IoUs '
        'over 16 and 13 classes, so terrain, truck and train pixels of '
        'Cityscapes val count against the classes predicted there'),
    'train16': dict(
        num_classes=16,
        short='16-class model',
        text='a 16-class model: terrain, truck and train are 255 in the '
        'SYNTHIA labels and in the Cityscapes ground truth, neither trained '
        'nor scored; mIoU13 is a subset of its 16 IoUs'),
}
