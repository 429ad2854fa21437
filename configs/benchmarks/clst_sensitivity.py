# Sensitivity of CLST on the mini task to the contrastive term's weight and
# temperature: a 3 x 3 grid around the a-priori default (cl_weight 0.1,
# temperature 0.1), 3 seeds each. This is a SENSITIVITY study, not a
# selection: the grid is scored on target-val mIoU, so no value is taken
# from it; configs/_base_/uda/clst.py keeps the a-priori choice. The default
# cell is the plain `clst` row (same run ids as in
# configs/benchmarks/ablations.py, so its runs are reused); every other cell
# is a row of configs/clst/mini.py with its own method_overrides. Written as
# results/mini/clst_sensitivity.{md,tex,csv,html}; the contrastive term's
# curves with tools/plot_clst_contrastive.py <this file>.
# The pseudo-label diagnostics are on in every run (a diagnostic, no method
# reads it) and in every mini suite alike, so the suites share their runs.
_base_ = ['./_base_/default.py', './_base_/pseudo_label_diagnostics.py']
tasks = ['mini']
task_titles = dict(
    mini='mini: CLST sensitivity to cl_weight x temperature (sensitivity, '
    'not selection: the config default stays the a-priori choice)')
methods = [
    dict(name='clst', title='CLST (cl_weight 0.1, temperature 0.1: default)')
] + [
    dict(name=f'clst-w{w}-t{t}',
         title=f'CLST (cl_weight {w}, temperature {t})',
         config='configs/clst/{task}.py') for w in (0.01, 0.1, 1.0)
    for t in (0.05, 0.1, 0.5) if (w, t) != (0.1, 0.1)
]
method_overrides = {
    f'clst-w{w}-t{t}': {
        'model.cl_weight': w,
        'model.contrastive_loss.temperature': t
    }
    for w in (0.01, 0.1, 1.0) for t in (0.05, 0.1, 0.5)
    if (w, t) != (0.1, 0.1)
}
baselines = ['clst']
upper_bounds = []
seeds = [0, 1, 2]
device = 'cpu'
cpu_tasks = True  # small CPU tasks: the reports say what they can support
cpu_jobs = 2  # two runs at once, one core each
report_name = 'clst_sensitivity'
# every cell against the default
comparisons = [(f'clst-w{w}-t{t}', 'clst') for w in (0.01, 0.1, 1.0)
               for t in (0.05, 0.1, 0.5) if (w, t) != (0.1, 0.1)]
