# Defaults shared by the suites: display names and Slurm resources. Every
# key a suite may set is listed (with its default) in
# clst_mmseg/benchmark/suite.py (DEFAULTS).
task_titles = dict(
    mini='mini (synthetic → real, 7 classes)',
    adverse='adverse (clear day → night, fog, rain; 6 classes)',
    aerial='aerial (town → countryside, summer → winter, RGB → false '
    'colour; 8 classes)',
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
    self_training_cb='CBST (rounds, as released)',
    self_training_cb_online='Self-training (class-balanced, online)',
    self_training_global='ST (global portion per round, CBST paper)',
    cbst='CBST',
    dacs='DACS',
    clst='CLST',
    daformer='DAFormer',
    mic='MIC (DAFormer)',
    clst_daformer='CLST on DAFormer (beyond the paper)',
    daformer_deeplab='DAFormer recipe on DeepLab')
# Context rows: baselines on top (and what methods are compared against),
# upper bounds at the bottom.
baselines = ['source_only']
upper_bounds = ['oracle']
# submitit AutoExecutor parameters for --executor slurm (generic names, or
# slurm_<sbatch option>), e.g. slurm_partition='gpu', mem_gb=64.
slurm = dict(timeout_min=24 * 60, cpus_per_task=8,
             slurm_array_parallelism=64)
