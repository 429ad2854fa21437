# The mini suite: every method on the built-in mini task x 3 seeds, on the
# CPU (two runs at a time); the default suite (configs/benchmarks/default.py)
# adds the adverse task. A method key
# is a configs/ folder and picks its paper row
# (clst_mmseg/benchmark/reference_numbers.csv) by the same key; other rows
# take a dict, e.g.
#   dict(name='advent_adv', config='configs/advent/{task}_advent.py',
#        reference='advent_adv')
# The pseudo-label diagnostics are on in every run (a diagnostic, no method
# reads it) and in every mini suite alike, so the suites share their runs.
_base_ = ['./_base_/default.py', './_base_/pseudo_label_diagnostics.py']
tasks = ['mini']
methods = [
    'source_only', 'adaptsegnet', 'advent', 'self_training',
    dict(name='self_training_cb', reference='cbst'), 'dacs', 'clst',
    'daformer_deeplab', 'daformer', 'mic', 'clst_daformer', 'oracle'
]
seeds = [0, 1, 2]
device = 'cpu'  # hide GPUs: mini numbers stay comparable across machines
cpu_tasks = True  # small CPU tasks: the reports say what they can support
# Two runs at once, one core each (torch's threads on 2 cores scale poorly
# for this small model; --jobs overrides it).
cpu_jobs = 2
# each run with the task's own schedule
overrides = {}
# each adaptation method against source-only, then CLST against the
# closest baselines (self-training without the ensemble and contrast; DACS);
# DAFormer's recipe against DACS (same network) and its architecture
# (daformer vs daformer_deeplab: same recipe); MIC against DAFormer; CLST
# on the DAFormer stack against CLST (same loss) and DAFormer (same stack)
comparisons = [(m, 'source_only') for m in (
    'adaptsegnet', 'advent', 'self_training', 'self_training_cb', 'dacs',
    'clst', 'daformer_deeplab', 'daformer', 'mic', 'clst_daformer')] + [
        ('clst', 'self_training'), ('clst', 'self_training_cb'),
        ('clst', 'dacs'), ('daformer_deeplab', 'dacs'),
        ('daformer', 'daformer_deeplab'), ('mic', 'daformer'),
        ('clst_daformer', 'clst'), ('clst_daformer', 'daformer')]
