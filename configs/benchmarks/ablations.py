# CLST ablations on the mini task: every configs/clst/ablations/<name>.py
# (each inherits configs/clst/mini.py and switches one thing off) becomes a
# row "CLST (<name>)"; pure self-training is the baseline CLST without its
# contrastive term must equal up to the label source; source-only and
# oracle give the context. Written next to the main leaderboard as
# results/mini/ablations.{md,tex,csv,html}; the contrastive term's curves
# (loss, similarities, per-class centroid distances) with
#   python tools/plot_clst_contrastive.py configs/benchmarks/ablations.py
# The pseudo-label diagnostics are on in every run (a diagnostic, no method
# reads it) and in every mini suite alike, so the suites share their runs.
_base_ = ['./_base_/default.py', './_base_/pseudo_label_diagnostics.py']
tasks = ['mini']
methods = ['source_only', 'self_training', 'clst', 'oracle']
ablations = dict(method='clst', dir='configs/clst/ablations', task='mini')
seeds = [0, 1, 2]
device = 'cpu'
cpu_tasks = True  # small CPU tasks: the reports say what they can support
cpu_jobs = 2  # two runs at once, one core each
report_name = 'ablations'
# CLST against every other row (Welch's t-test over seeds); then the label
# source alone: ensemble self-training (CLST without contrast) against
# self-training on the current network's labels
comparisons = [('clst', m) for m in (
    'source_only', 'self_training', 'clst-no_contrastive',
    'clst-no_self_training', 'clst-online_pseudo_labels',
    'clst-contrastive_online_no_st', 'clst-target_forward_only',
    'clst-no_projection_head')] + [('clst-no_contrastive', 'self_training')]
