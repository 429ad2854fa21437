# The online class-balanced variant of self-training (a named option, not
# CBST as released, see configs/_base_/uda/cbst.py): SelfTraining whose
# per-class thresholds are per-batch quantiles (rank floor(portion * n_c) of
# the batch's pixels predicted as class c), folded into a running average,
# and whose labels are the raw arg-max kept where p >= k_argmax (CBST
# instead relabels with argmax_c p_c / k_c, which moves pixels toward rare
# classes, and takes k_c from the whole target set once per round).
_base_ = ['./self_training.py']
model = dict(
    pseudo_label=dict(
        _delete_=True,
        type='class_balanced',
        # CBST's portion schedule (crst_seg.py: 0.2, +0.05 per round, at most
        # 0.5), here a linear ramp over the iterations after the warm-up
        # (assumed: online rounds)
        portion=0.2,
        portion_end=0.5,
        # CBST caps no class threshold
        max_threshold=None,
        # assumed: per-batch quantiles averaged with this EMA momentum (the
        # buffer cb_thresholds, checkpointed)
        momentum=0.9))
