# MIC (Hoyer, Dai, Wang, Van Gool, CVPR 2023) on DAFormer's training, read in
# the release lhoyer/MIC (seg/mmseg/models/uda/dacs.py,
# masking_consistency_module.py, mmseg/models/utils/masking_transforms.py;
# seg/experiments.py id 81, the 'daformer_sepaspp' mitb5 row of Table 1:
# mask_mode 'separatetrgaug', mask_alpha and mask_pseudo_threshold 'same',
# DAFormer's uda 'dacs_a999_fdthings' with rcs_T 0.01 and plcrop True).
# MIC's knobs on top of DAFormer's: a task config inherits uda/daformer.py
# (or uda/daformer_cpu.py) and this file and sets
#   model = dict(segmentor=..., data_preprocessor=..., **_base_.mic_model)
# (mmengine allows one `model` among the bases).
mic_model = dict(
    type='MIC',
    # from the paper / release (experiments.py mask_ratio = 0.7)
    mask_ratio=0.7,
    # from the release (experiments.py id 81: mask_block_size = 32 for the
    # 512x512 DAFormer crops, "half the patch size when training with half
    # resolution"; 64 for HRDA's 1024x1024 crops)
    mask_block_size=32,
    # from the paper / release (mask_lambda=1)
    mask_loss_weight=1.0,
    # from the release (masking_consistency_module.py: 'aug' modes apply
    # DAFormer's strong_transform without mixing, with its own draws: the
    # colour jitter of configs/_base_/uda/dacs.py and blur always possible;
    # whether to jitter / blur drawn once per batch, as strong_parameters)
    mask_augment=dict(
        jitter_prob=0.8, jitter_strength=0.2, jitter_hue=0.2,
        blur_prob=0.5, blur_sigma=(0.15, 1.15), blur_kernel_ratio=0.1,
        per_batch=True))
