# CLST ablations on the mini task: every configs/clst/ablations/<name>.py
# (each inherits configs/clst/mini.py and switches one thing off) becomes a
# row "CLST (<name>)", compared with full CLST; source-only and oracle give
# the context. Written next to the main leaderboard as
# results/mini/ablations.{md,tex,csv,html}.
_base_ = ['./_base_/default.py']
tasks = ['mini']
methods = ['source_only', 'clst', 'oracle']
ablations = dict(method='clst', dir='configs/clst/ablations', task='mini')
seeds = [0, 1, 2]
device = 'cpu'
cpu_jobs = 2  # two runs at once, one core each
report_name = 'ablations'
