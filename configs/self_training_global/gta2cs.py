# The CBST paper's "ST": self-training in rounds with one global,
# class-agnostic portion (yzou2/CBST README: "For ST, set --kc-policy
# global"; issegm/solve_ST.py, kc generation: one threshold k at rank
# floor(portion * n) of the pooled confidences of all classes, so labels are
# the raw arg-max kept where p >= k). Everything else as CBST
# (configs/self_training_cb/gta2cs.py). Not the fixed-threshold
# self-training of configs/self_training/. The ST number (41.5) came from
# the MXNet code, whose README GTA5 command (given for CBST-SP) runs 6 rounds
# from portion 0.15; the rounds and portions here are the PyTorch release's
# (3 rounds from 0.2), as for CBST.
_base_ = ['../self_training_cb/gta2cs.py']
# the CBST paper's ST (ResNet-38; no DeepLabV2 number is published)
reference_key = 'st_global'
model = dict(pseudo_label=dict(policy='global'))
