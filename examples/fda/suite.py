# FDA (examples/fda/, a method outside the package) beside shipped methods on
# the mini task, 3 seeds on the CPU:
#   python tools/benchmark.py examples/fda/suite.py
# The shipped rows use the same run ids as configs/benchmarks/mini.py only
# when the same overrides apply (here none: the mini schedule).
_base_ = ['../../configs/benchmarks/_base_/default.py']
tasks = ['mini']
methods = [
    'source_only', 'advent',
    dict(name='fda', config='examples/fda/{task}.py', title='FDA (beta 0.05)'),
    'oracle'
]
seeds = [0, 1, 2]
device = 'cpu'
cpu_tasks = True
cpu_jobs = 2
report_name = 'fda'
comparisons = [('fda', 'source_only'), ('fda', 'advent')]
