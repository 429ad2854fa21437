# DAFormer's training (Hoyer, Dai, Van Gool, CVPR 2022), read in the release
# lhoyer/DAFormer: DACS self-training with an EMA teacher of alpha 0.999,
# the thing-class ImageNet feature distance and the pseudo-label crop
# margins (mmseg/models/uda/dacs.py; configs/_base_/uda/dacs.py,
# dacs_a999_fdthings.py; configs/daformer/
# gta2cs_uda_warm_fdthings_rcs_croppl_a999_daformer_mitb5_s0.py). Rare class
# sampling is the data's (rare_class_sampling below, set on the UDA dataset
# by the task configs: uda/rare_class_sampling.py); the warm-up and AdamW
# are the schedule's (schedules/daformer_40k.py); the network is the model
# base's.
_base_ = ['./rare_class_sampling.py']
model = dict(
    type='DAFormer',
    # from the paper / release (dacs_a999_fdthings.py alpha=0.999; dacs.py
    # _update_ema: alpha_t = min(1 - 1/(t+1), alpha), t counted from the
    # first step whose start copies the student)
    alpha=0.999,
    # from the release (configs/_base_/uda/dacs.py pseudo_threshold): the
    # pseudo-label weight is the share of target pixels with teacher
    # confidence >= 0.968
    pseudo_threshold=0.968,
    # from the release (dacs.py: the mixed loss is added with weight 1)
    mix_loss_weight=1.0,
    # from the release (mmseg/models/utils/dacs_transforms.py
    # get_class_masks): half of the values of the whole source batch,
    # drawn per image (the ignore label and classes absent from the image
    # may be drawn)
    mix_classes='batch',
    classmix_draw_ignore=True,
    # from the release (configs/_base_/uda/dacs.py color_jitter_strength
    # 0.2, color_jitter_probability 0.2 -> jitter when a uniform draw
    # exceeds 0.2, i.e. p 0.8, kornia ColorJitter(0.2, 0.2, 0.2, 0.2);
    # blur=True -> p 0.5, sigma 0.15-1.15, kernel ~10 % of the side;
    # dacs_transforms.py color_jitter, gaussian_blur; dacs.py
    # strong_parameters: whether to jitter / blur drawn once per batch).
    # Assumed: the four jitters in a fixed order (kornia shuffles them).
    mix_augment=dict(
        jitter_prob=0.8, jitter_strength=0.2, jitter_hue=0.2,
        blur_prob=0.5, blur_sigma=(0.15, 1.15), blur_kernel_ratio=0.1,
        per_batch=True),
    # from the paper / release (dacs_a999_fdthings.py
    # imnet_feature_dist_lambda): lambda of the feature distance
    fd_weight=0.005,
    # from the paper / release (imnet_feature_dist_classes): the thing
    # classes traffic light, traffic sign, person, rider, car, truck, bus,
    # train, motorcycle, bicycle (Cityscapes trainIds)
    fd_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    # from the release (imnet_feature_dist_scale_min_ratio): a feature cell
    # counts as the class covering >= 75 % of its pixels
    fd_min_ratio=0.75,
    # from the release (dacs.py calc_feat_dist lay = -1): the last encoder
    # stage
    fd_level=-1,
    # from the release (the gta2cs config pseudo_weight_ignore_top=15,
    # pseudo_weight_ignore_bottom=120; MIC's experiments.py calls it the
    # legacy crop that only works when the crop has the image's height, as
    # a 512x512 crop of the 1024x512 Cityscapes image has): no pseudo-label
    # weight on the top 15 and bottom 120 rows of the target crop
    pseudo_ignore_top=15,
    pseudo_ignore_bottom=120)
