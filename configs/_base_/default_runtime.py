# Runtime shared by every config. `custom_imports` registers clst_mmseg's
# datasets, models and hooks (`import clst_mmseg` alone is light), so mmseg's
# own tools/train.py also runs these configs.
custom_imports = dict(
    imports=['clst_mmseg.registration'], allow_failed_imports=False)
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; without CUDA the compat layer falls back to gloo
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
# mmseg's SegLocalVisualizer, readable on small images (tools/test.py
# --show-dir): upscaled to >= 256 pixels, panels titled 'ground truth' |
# 'prediction', a colour legend instead of class names below 256 pixels.
visualizer = dict(
    type='TitledSegVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# --resume / load_from / tools/test.py of a checkpoint that another model type
# or config wrote stops with one line naming what differs; True loads it
# anyway (mmengine then loads the weights whose names match).
allow_checkpoint_mismatch = False
# diff_rank_seed: under DDP rank r is seeded with seed + r (mmengine), so
# ranks that load their data in the main process (num_workers=0, the CPU
# tasks) draw their own target and rare-class-sampled images instead of all
# the same ones. The sampler's shuffle seed is then drawn from the seeded
# numpy generator (mmengine's sync_random_seed, common to the ranks) instead
# of being `seed`: one process shuffles in another (still seed-determined)
# order than with diff_rank_seed=False, so its numbers differ from runs made
# without it.
randomness = dict(seed=0, deterministic=False, diff_rank_seed=True)
# Evaluations per run at evenly spaced iterations (target-val score and
# label-free selection criteria -> <work_dir>/trajectory.json, read into the
# run record; see docs/model_selection.md): `trajectory_points`, set by the
# schedule (schedules/uda_40k.py: 10; schedules/mini.py: 5). 0 turns them
# off.
# The hooks of every config: RNGStateHook saves and restores the RNG states
# so that --resume continues exactly; CheckpointTrajectoryHook records the
# trajectory; WarmupCheckHook says where each warm-up ends and warns when
# one is >= max_iters. A config that needs hooks of its own appends them:
#   custom_hooks = _base_.common_custom_hooks + [dict(type=...)]
common_custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='CheckpointTrajectoryHook'),
    dict(type='WarmupCheckHook')
]
custom_hooks = common_custom_hooks
tta_model = dict(type='SegTTAModel')
# A training whose config names a local pretrained weights file that is
# missing stops before it starts (clst_mmseg/apis/pretrained_check.py);
# True trains from random initialisation instead (smoke tests, debugging).
# The run record and the leaderboard show the init actually used.
allow_random_init = False
