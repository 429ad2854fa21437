# Defaults shared by the suites: display names and Slurm resources. Every
# key a suite may set is listed (with its default) in
# clst_mmseg/benchmark/suite.py (DEFAULTS).
task_titles = dict(
    mini='mini (synthetic → real, 7 classes)',
    gta2cs='GTA5 → Cityscapes',
    synthia2cs='SYNTHIA → Cityscapes')
method_titles = dict(
    source_only='Source only',
    oracle='Oracle (target labels)',
    adaptsegnet='AdaptSegNet',
    advent='ADVENT (AdvEnt+MinEnt, joint)',
    advent_adv='ADVENT (AdvEnt)',
    minent='ADVENT (MinEnt)',
    self_training='Self-training',
    self_training_cb='Self-training (class-balanced)',
    cbst='CBST',
    dacs='DACS',
    clst='CLST')
# Context rows: baselines on top (and what methods are compared against),
# upper bounds at the bottom.
baselines = ['source_only']
upper_bounds = ['oracle']
# submitit AutoExecutor parameters for --executor slurm (generic names, or
# slurm_<sbatch option>), e.g. slurm_partition='gpu', mem_gb=64.
slurm = dict(timeout_min=24 * 60, cpus_per_task=8,
             slurm_array_parallelism=64)
