# Schedule every method shares on the mini task (CPU; run times: the records).
# AdamW converged within this budget where SGD did not (tools/mini_gap_check.py);
# the real tasks keep the papers' SGD (schedules/uda_40k.py).
optimizer = dict(type='AdamW', lr=1e-3, weight_decay=1e-2)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=1500,
         by_epoch=False)
]
# target-val every 150 iterations: 10 points for the leaderboard's curves
# (one evaluation of the 200 val images takes ~2 s on one core)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1500, val_interval=150)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
