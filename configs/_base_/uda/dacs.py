# DACS (Tranheden et al., WACV 2021): an EMA teacher pseudo-labels the target;
# ClassMix pastes half of the source classes onto the target image; the
# student learns source CE + the pixel-weighted CE of the mixed image.
model = dict(
    type='DACS',
    # from the paper (Tranheden et al. 2021): EMA alpha 0.99, with
    # the code's warm-up alpha_t = min(1 - 1/(t+1), alpha)
    alpha=0.99,
    # from the paper's code: pseudo-label weight = fraction of target pixels
    # with teacher confidence >= 0.968
    pseudo_threshold=0.968,
    # from the paper: lambda = 1 for the mixed loss
    mix_loss_weight=1.0,
    # from the paper's code (vikolss/DACS utils/transformsgpu.py colorJitter,
    # trainUDA.py strongTransform): colour jitter with p=0.8 (applied when
    # a uniform draw exceeds 0.2), kornia ColorJitter with brightness,
    # contrast, saturation and hue all 0.25 (hue: up to a quarter of the hue
    # circle); Gaussian blur with p=0.5, sigma 0.15-1.15, kernel ~10% of
    # the image side (gaussian_blur). Assumed: a fixed brightness-contrast-
    # saturation-hue order (kornia's ColorJitter shuffles it). From the
    # released code: whether to jitter and whether to blur is drawn once
    # per iteration for the whole batch (strong_parameters), the jitter
    # factors and the sigma per image.
    mix_augment=dict(
        jitter_prob=0.8, jitter_strength=0.25, jitter_hue=0.25,
        blur_prob=0.5, blur_sigma=(0.15, 1.15), blur_kernel_ratio=0.1,
        per_batch=True),
    # from the released code (trainUDA.py: the filter
    # classes[classes != ignore_label] is commented out): the ignore label
    # is one of the source classes ClassMix can draw
    classmix_draw_ignore=True)
