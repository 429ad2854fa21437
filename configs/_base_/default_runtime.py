# Runtime shared by every config. `custom_imports` registers clst_mmseg's
# datasets, models and hooks, so mmseg's own tools/train.py also runs these
# configs; our tools import the package anyway.
custom_imports = dict(imports=['clst_mmseg'], allow_failed_imports=False)
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; without CUDA the compat layer falls back to gloo
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# --resume / load_from / tools/test.py of a checkpoint that another model type
# or config wrote stops with one line naming what differs; True loads it
# anyway (mmengine then loads the weights whose names match).
allow_checkpoint_mismatch = False
randomness = dict(seed=0, deterministic=False)
# RNGStateHook saves and restores the RNG states so that --resume continues
# exactly; WarmupCheckHook warns when a method's warm-up is >= max_iters.
# A config that replaces custom_hooks restates both.
custom_hooks = [dict(type='RNGStateHook'), dict(type='WarmupCheckHook')]
tta_model = dict(type='SegTTAModel')
# A training whose config names a local pretrained weights file that is
# missing stops before it starts (clst_mmseg/apis/pretrained_check.py);
# True trains from random initialisation instead (smoke tests, debugging).
# The run record and the leaderboard show the init actually used.
allow_random_init = False
