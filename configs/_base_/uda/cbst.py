# CBST as released (Zou et al., ECCV 2018): class-balanced self-training in
# rounds over the whole target train set. Sources: yzou2/CRST crst_seg.py
# (PyTorch, DeepLabV2 ResNet-101: `kc_parameters`, `label_selection`, the
# defaults that cbst.sh keeps) and the yzou2/CBST README commands (MXNet,
# ResNet-38). Round r: the network labels every target image (eval mode),
# k_c = confidence at rank floor(portion_r * n_c) of the pixels predicted
# as class c over the whole set, label = argmax_c p_c / k_c kept where that
# ratio is >= 1; then the round trains on those labels. A task config adds
# the hook that runs the rounds: `custom_hooks = _base_.common_custom_hooks
# + [dict(type='CBSTRoundHook', pipeline=..., ...)]` (labelling pipeline:
# cbst_label_pipeline below, or the task's own scale).
model = dict(
    type='CBST',
    pseudo_label=dict(
        # crst_seg.py --kc-policy cb (the CBST README: "For CBST, set
        # --kc-policy cb"); 'global' is the CBST paper's ST
        policy='class_balanced',
        # crst_seg.py INIT_TGT_PORT 0.2, TGT_PORT_STEP 0.05, MAX_TGT_PORT 0.5
        # (cbst.sh keeps the defaults): portion of round r =
        # min(0.2 + 0.05 r, 0.5)
        portion=0.2,
        portion_step=0.05,
        max_portion=0.5,
        # crst_seg.py DS_RATE 4: k_c from every 4th pixel of each class
        ds_rate=4,
        # cbst.sh --test-flipping: labels from the average of the image's
        # and its mirror's softmax
        flip=True),
    # crst_seg.py NUM_ROUNDS 4, of which the last only tests: 3 rounds of
    # labelling + retraining
    num_rounds=3,
    # assumed: CBST starts from a separately trained source model
    # (crst_seg.py --restore-from src_model.pth); here a source-only warm-up
    # of a quarter of the schedule (max_iters) stands in for it, as for
    # SelfTraining
    warmup_ratio=0.25,
    # crst_seg.py: no photometric augmentation of the target images
    target_augment=None,
    # crst_seg.py reg_loss_calc: one cross-entropy over source and
    # pseudo-labelled target pixels alike (weight 1); here the source and the
    # target terms are each averaged over their own pixels
    loss_weight=1.0)
# The labelling pipeline (deterministic: no random resize, crop or flip);
# task configs replace it where the released code labels at another scale.
cbst_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackUDAInputs'),
]
