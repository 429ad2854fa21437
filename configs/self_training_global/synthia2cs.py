# The CBST paper's "ST": self-training in rounds with one global,
# class-agnostic portion (yzou2/CBST README: "For ST, set --kc-policy
# global"; issegm/solve_ST.py, kc generation: one threshold k at rank
# floor(portion * n) of the pooled confidences of all classes, so labels are
# the raw arg-max kept where p >= k). Everything else as CBST
# (configs/self_training_cb/synthia2cs.py). Not the fixed-threshold
# self-training of configs/self_training/.
_base_ = ['../self_training_cb/synthia2cs.py']
# the CBST paper's ST (ResNet-38; no DeepLabV2 number is published)
reference_key = 'st_global'
model = dict(pseudo_label=dict(policy='global'))
