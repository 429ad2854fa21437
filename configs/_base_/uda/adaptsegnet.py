# AdaptSegNet (Tsai et al., CVPR 2018): multi-level adversarial training in
# the output space. Every value below is from the paper / its reference code
# (github.com/wasidennis/AdaptSegNet, train_gta2cityscapes_multi.py) unless
# marked "assumed".
model = dict(
    type='AdaptSegNet',
    # Multi-level: a second classifier, a copy of the main DeepLabV2 ASPP
    # head, on ResNet layer3 (out_indices[0]); the task config adds its
    # in_channels (backbone dependent). from the paper: lambda_seg = 0.1 for
    # its source cross-entropy.
    auxiliary_head=dict(in_index=0, loss_decode=dict(loss_weight=0.1)),
    # from the paper: 4x4 convs, stride 2, channels 64-128-256-512 -> 1,
    # LeakyReLU 0.2; one discriminator per level, on the softmax output
    # upsampled to the input size
    discriminator=dict(
        type='FCDiscriminator', channels=(64, 128, 256, 512),
        negative_slope=0.2),
    # from the paper: lambda_adv 0.001 (main, layer4) and 0.0002 (aux, layer3)
    lambda_adv=dict(main=0.001, aux=0.0002),
    # from the paper: vanilla GAN (BCE); 'lsgan' is the reference code's
    # `--gan LS` variant (MSE on the discriminator output)
    gan_mode='vanilla',
    # from the reference code: source maps are labelled 0, target maps 1;
    # the segmentor pushes target maps towards 0
    source_label=0.0,
    target_label=1.0)
# The discriminators' own optimizer, one Adam over both (Adam is
# per-parameter, so this equals the reference's one Adam per discriminator).
# from the paper: Adam, lr 1e-4, betas (0.9, 0.99), no weight decay; the
# reference decays it with the same poly schedule (power 0.9, same length) as
# the segmentor: the task config keeps the shared `param_scheduler` list,
# which mmengine builds once per optimizer. Task configs add it with
#   optim_wrapper = dict(constructor='UDAOptimWrapperConstructor',
#                        discriminators={{_base_.discriminator_optim_wrapper}})
# (the segmentor keeps the shared schedule's optimizer unchanged).
discriminator_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0))

# Multi-process training: two optimizers update two parts of the model in
# one train_step, which one DDP wrapper around the whole model cannot
# synchronise. mmengine's MMSeparateDistributedDataParallel wraps the
# segmentor and the discriminators in a DDP wrapper each (as mmagic does for
# GANs); every forward of a step goes through them. BN statistics stay per
# process (broadcast_buffers=False, as for the other methods);
# find_unused_parameters must stay False (the layer3 classifier runs outside
# the segmentor's forward, see AdaptSegNet.level_logits).
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
