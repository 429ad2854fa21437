# The default suite of tools/benchmark.py: every method on the built-in mini
# task x 3 seeds, on the CPU (~1-2 min per run). Add a method here when its
# configs/<method>/mini.py lands, e.g. 'adaptsegnet', 'advent',
# 'self_training', 'dacs', 'clst'. A method key is a configs/ folder and
# picks its paper row (clst_mmseg/benchmark/reference_numbers.csv) by the
# same key; other rows take a dict, e.g.
#   dict(name='self_training_cb', reference='cbst')
#   dict(name='advent_adv', config='configs/advent/{task}_advent.py',
#        reference='advent_adv')
_base_ = ['./_base_/default.py']
tasks = ['mini']
methods = ['source_only', 'oracle']
seeds = [0, 1, 2]
device = 'cpu'  # hide GPUs: mini numbers stay comparable across machines
# CPU runs are cheap: one after another, each with the task's own schedule.
overrides = {}
