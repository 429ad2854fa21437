# CLST (Marsden, Bartler, Doebler, Yang, arXiv 2105.02001): source
# cross-entropy + a contrastive loss between source and target class
# centroids + self-training on pseudo-labels of a temporal ensemble of the
# network's target predictions. Not every hyper-parameter is public: each
# knob says "from the paper" or "assumed"; docs/methods/clst.md lists the
# assumptions. The values below are those of the DeepLabV2 ResNet-101 tasks;
# configs/clst/mini.py restates the few that depend on the network/data.
model = dict(
    type='CLST',
    # --- contrastive term -------------------------------------------------
    # assumed: a 2-layer 1x1-conv projection (SimCLR-style) of the feature
    # the classifier reads (in_index/in_channels None: the decode head's;
    # ResNet layer4 for DeepLabV2), 512 hidden, 128-d embeddings
    projection_head=dict(
        type='ProjectionHead', in_channels=None, in_index=None, channels=512,
        out_channels=128, num_convs=2, norm_cfg=None),
    contrastive_loss=dict(
        type='CentroidContrastiveLoss',
        feat_channels=128,  # = projection_head.out_channels
        # assumed: the usual InfoNCE temperature
        temperature=0.1,
        # from the paper: class centroids (means of the pixel embeddings)
        # contrasted across domains; assumed (the paper does not state
        # them): target centroids are the anchors, the source centroid of
        # the same class the positive, the other source centroids the
        # negatives.
        # Design (ours): anchors and candidates are the CURRENT batch's
        # centroids, both with their full gradient, so the term trains the
        # features like a plain InfoNCE. An earlier version used smoothed
        # centroids (momentum 0.9) as anchors, which left ~1/10 of the
        # gradient to the features and made the term inert on mini. A
        # per-class memory (EMA, momentum 0.9, no gradient) only stands in,
        # as a constant, for a class missing from the source batch (a batch
        # of 2 + 2 crops misses many classes), as prototype methods keep
        # their memories (SePiCo: mmseg/models/utils/proto_estimator.py
        # updates its prototypes detached); it also gives the per-class
        # source-target distance that is logged (cl.dist.<class>).
        centroid_momentum=0.9,
        memory_candidates=True,
        # assumed: one direction only (target anchors), source side trained
        # too
        symmetric=False,
        detach_source=False),
    # assumed: weight of the contrastive term
    cl_weight=0.1,
    # assumed (the paper does not state which target labels the centroids
    # use): target centroids from the pseudo-labels, here the ensemble's
    # arg-max; the ablations switch to online predictions
    cl_target_labels='ensemble',
    # assumed: every pixel with an ensemble label, not only confident ones
    # (a centroid InfoNCE over confident target pixels only was inert in
    # the mini prototype: those centroids are already aligned)
    cl_target_min_conf=0.0,
    # --- self-training term ----------------------------------------------
    # assumed: source and target terms weighted equally
    st_weight=1.0,
    # assumed: both target terms (self-training AND contrastive) start after
    # a quarter of the schedule (max_iters), the key and value of
    # configs/_base_/uda/self_training.py: target labels are used once the
    # network that makes them is trained, and a shortened schedule
    # (--cfg-options train_cfg.max_iters=...) shortens every method's
    # warm-up alike; meanwhile the ensemble fills. warmup_ratio=None,
    # warmup_iters=N: an absolute length
    warmup_ratio=0.25,
    # assumed: no ramp-up (self-training's target loss has none either);
    # > 0: Laine & Aila's sigmoid ramp of both weights over this fraction
    # of max_iters after the warm-up
    rampup_ratio=0.0,
    # assumed: a fixed confidence threshold on the ensemble's confidence
    # (the ensemble averages predictions, so its confidences are lower
    # than a single prediction's)
    pseudo_label=dict(type='threshold', threshold=0.9),
    # from the paper: pseudo-labels from the temporal ensemble
    pseudo_label_source='ensemble',
    ensemble=dict(
        # assumed: Laine & Aila's ensemble momentum 0.6 (per visit of an
        # image; a pixel's first prediction initialises it)
        momentum=0.6,
        # from the paper: memory-efficient ensemble (here: top class and
        # its probability, 2 bytes per pixel); assumed: kept at the
        # network's output resolution, DeepLabV2 stride 8 on 1024x512
        # Cityscapes inputs -> 64x128 cells per 2048x1024 image (47 MiB
        # for 2975 images)
        memory_size=(64, 128),
        # None: in RAM; a folder: memory-mapped file per rank
        memmap_dir=None,
        # assumed: the student's own prediction on its (augmented) target
        # input is what the ensemble averages (no extra forward pass)
        input='student'),
    # assumed: PhotometricAugment's defaults (colour jitter p=0.8 strength
    # 0.2, blur p=0.5); colour augmentation of the student's target input
    # mattered for the temporal ensemble in the mini prototype
    target_augment=dict())
# The temporal-ensemble hook (memory, pseudo-labels, checkpointing, DDP
# sync). default_runtime.py owns `custom_hooks` and mmengine forbids a key in
# two bases, so a task config appends it to default_runtime's hooks:
#   custom_hooks = _base_.common_custom_hooks + [_base_.temporal_ensemble_hook]
temporal_ensemble_hook = dict(
    type='TemporalEnsembleHook', threshold_interval=1, log_interval=50)
