# DAFormer's optimisation on the CPU tasks: the structure of
# schedules/daformer_40k.py (AdamW, head lr x10, no weight decay on norms,
# linear warm-up then poly decay with power 1) on the mini schedule
# (schedules/mini.py: 250 iterations).
_base_ = ['./mini.py', './daformer_paramwise.py']
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # assumed: the task's learning rate (schedules/mini.py, every method of
    # the CPU tasks), not DAFormer's 6e-5, which fine-tunes an ImageNet
    # encoder (the CPU tasks train from random initialisation); from the
    # paper: AdamW with betas (0.9, 0.999) and weight decay 0.01
    optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=None,
    # from the release (schedules/daformer_paramwise.py)
    paramwise_cfg=_base_.daformer_paramwise_cfg)
# assumed: the warm-up scaled with the schedule (1500 of 40000 iterations ->
# 9 of 250); from the paper: linear from 1e-6, poly power 1 (ends as in
# schedules/daformer_40k.py: mmcv's rates, the poly decay first)
param_scheduler = [
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0,
         end=251),
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=10)
]
