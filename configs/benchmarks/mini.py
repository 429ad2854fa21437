# The default suite of tools/benchmark.py: every method on the built-in mini
# task x 3 seeds, on the CPU (~1-2 min per run). Add a method here when its
# configs/<method>/mini.py lands, e.g. 'adaptsegnet', 'advent',
# 'self_training', 'dacs', 'clst'; an ADVENT config dir implementing
# AdvEnt+MinEnt maps to its paper row with
# dict(name='advent', reference='advent_minent').
_base_ = ['./_base_/default.py']
tasks = ['mini']
methods = ['source_only', 'oracle']
seeds = [0, 1, 2]
device = 'cpu'  # hide GPUs: mini numbers stay comparable across machines
# CPU runs are cheap: one after another, each with the task's own schedule.
overrides = {}
