# The 16 classes SYNTHIA shares with Cityscapes, in trainId order (the 19
# Cityscapes classes without terrain, truck and train; equal to
# CLASS_SUBSETS['mIoU16'] of clst_mmseg/datasets/cityscapes_labels.py, which
# tests/test_synthia_scoring.py holds): the label set of a config scored as
# a 16-class model (synthia_scoring = 'train16'). Such a config puts
# metainfo=dict(classes=synthia16_classes) on every dataset (mmseg then maps
# terrain, truck and train to 255 in the SYNTHIA labels and in the
# Cityscapes ground truth) and num_classes=16 on its classifier.
synthia16_classes = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
                     'traffic light', 'traffic sign', 'vegetation', 'sky',
                     'person', 'rider', 'car', 'bus', 'motorcycle',
                     'bicycle')
