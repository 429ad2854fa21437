# Schedule every method shares on the mini task (CPU; run times: the records).
# AdamW converged within this budget where SGD did not (tools/mini_gap_check.py);
# the real tasks keep the papers' SGD (schedules/uda_40k.py).
# AdamW, lr 2e-3, 250 iterations, 5 evaluations (issue #25: the default
# suite, 108 runs, within 45 min on 2 cores). The length and rate were sized
# on source-only and oracle only (gap and seed std, in the benchmark's own
# seeding; docs/tasks.md): at 250 iterations and lr 1e-3 the oracle had not
# converged (adverse gap 12.8, aerial 19.3); lr 2e-3 gave mini 22.6,
# adverse 16.1, aerial 20.4. The methods' signal against the 500-iteration
# records of the same code (lr 1e-3): results/benchmark_signal_default.txt.
# PolyLR's end = max_iters (--cfg-options train_cfg.max_iters=N moves it and
# caps the logger interval at N // 10: clst_mmseg/apis/schedule_length.py).
optimizer = dict(type='AdamW', lr=2e-3, weight_decay=1e-2)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=250,
         by_epoch=False)
]
# target-val (and the trajectory's label-free criteria) every 50 iterations:
# 5 points for the leaderboard's curves and the model-selection reports
# (one evaluation: ~1.2 s of CPU with its criteria); a loss line (and a
# pseudo-label diagnostic) every 25 iterations
train_cfg = dict(type='IterBasedTrainLoop', max_iters=250, val_interval=50)
trajectory_points = 5
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # one checkpoint, after the last iteration (save_last): what the record
    # names; a mini run takes about a minute, so an interrupted one restarts
    # instead of resuming (set an interval to resume mid-run)
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=-1, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
