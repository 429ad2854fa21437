# Rare class sampling (lhoyer/DAFormer mmseg/datasets/uda_dataset.py; the
# gta2cs config's data.train.rare_class_sampling), set on the UDA dataset
# by the task configs:
#   train_dataloader = dict(dataset=dict(
#       rare_class_sampling=_base_.rare_class_sampling))
rare_class_sampling = dict(
    # from the paper / release (class_temp=0.01)
    class_temp=0.01,
    # from the release (min_pixels=3000): an image is a candidate for a
    # class with more than 3000 of its pixels in the (full-resolution)
    # label file
    min_pixels=3000,
    # from the release (min_crop_ratio=0.5): the crop is drawn again while
    # it holds at most 3000 x 0.5 pixels of the class ...
    min_crop_ratio=0.5,
    # ... up to 10 times (uda_dataset.py get_rare_class_sample:
    # for j in range(10))
    max_crop_retries=10)
