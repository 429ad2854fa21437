# DAFormer's optimisation (lhoyer/DAFormer configs/_base_/schedules/
# adamw.py, poly10warm.py and the gta2cs config's optimizer): AdamW, lr
# 6e-5, betas (0.9, 0.999), weight decay 0.01; lr x10 on the decode head,
# no weight decay on position blocks and norms; a linear warm-up of the
# learning rate over 1500 iterations from 1e-6 of it, then poly decay with
# power 1 to 0; 40k iterations, batch 2 (the task's data config).
_base_ = ['./uda_40k.py', './daformer_paramwise.py']
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # from the paper / release (adamw.py; the gta2cs config lr=6e-05)
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=None,
    # from the release (schedules/daformer_paramwise.py)
    paramwise_cfg=_base_.daformer_paramwise_cfg)
# from the paper / release (poly10warm.py: policy 'poly', power 1.0,
# min_lr 0, warmup 'linear', warmup_iters 1500, warmup_ratio 1e-6). mmcv
# multiplies the poly rate lr (1 - t / 40000) by a warm-up factor rising
# linearly from 1e-6 at t = 0 to 1 at t = 1500; mmengine chains the two
# schedulers the same way (each multiplies the rate). mmengine's LinearLR and
# PolyLR reach their end value at t = end - 1, hence end = 1501 and 40001
# for mmcv's exact rates. The poly decay comes first so that
# param_scheduler.0.end is the schedule's length, as in every other config.
param_scheduler = [
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0,
         end=40001),
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1501)
]
