# Pseudo-label diagnostics (PseudoLabelDiagnosticsHook): coverage, precision
# and per-class precision/recall of the pseudo-labels a self-training-family
# method (self-training, CBST, DACS, CLST) trains on, measured against the
# target-train ground truth and written to the work dir's scalars.json as
# `pl_diag.*`. A diagnostic: no method reads the ground truth. Off unless a
# config or a suite switches it on:
#
#   a config:   _base_ = ['../../self_training/mini.py',
#                         '../../_base_/diagnostics/pseudo_labels.py']
#               default_hooks = dict(
#                   pseudo_label_diagnostics={{_base_.pseudo_label_diagnostics}})
#   a run:      tools/train.py <config> --cfg-options
#                   +default_hooks.pseudo_label_diagnostics.type=PseudoLabelDiagnosticsHook
#   a suite:    _base_ = ['./_base_/default.py',
#                         './_base_/pseudo_label_diagnostics.py']
#               (configs/benchmarks/_base_/pseudo_label_diagnostics.py)
#
# (mmengine does not let two bases both set default_hooks, hence the
# variable.) interval=None measures over the logger's interval, so every
# logged value covers the iterations since the previous log line.
pseudo_label_diagnostics = dict(
    type='PseudoLabelDiagnosticsHook', interval=None, per_class=True)
