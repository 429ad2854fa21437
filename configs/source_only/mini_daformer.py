# Source-only baseline on the built-in mini task (CPU) with the DAFormer
# network at mini size (small MiT + DAFormer head, random initialisation):
# the architecture row beside configs/source_only/mini.py (DeepLab-like).
_base_ = [
    '../_base_/models/mini_daformer.py', '../_base_/datasets/mini.py',
    '../_base_/uda/source_only.py', '../_base_/schedules/mini.py',
    '../_base_/default_runtime.py'
]
model = dict(
    segmentor={{_base_.segmentor}},
    data_preprocessor={{_base_.data_preprocessor}})
