# Self-training with CBST's class-balanced selection (Zou et al., ECCV 2018),
# mini: the threshold variant with only the selection changed.
_base_ = ['../self_training/mini.py']
model = dict(
    pseudo_label=dict(
        _delete_=True,
        type='class_balanced',
        # from the paper (CBST, Zou et al. 2018): keep the most confident 20% of each
        # class, rising by 5% per round to 50%; here a linear ramp over the
        # iterations after the warm-up (assumed: online rounds)
        portion=0.2,
        portion_end=0.5,
        # from the paper: CBST caps no class threshold
        max_threshold=None,
        # assumed: CBST takes per-class quantiles over the whole target set
        # per round; online, the per-batch quantiles are averaged with this
        # EMA momentum (kept in the buffer cb_thresholds, so checkpointed)
        momentum=0.9))
