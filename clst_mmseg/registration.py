"""Importing this module registers every clst_mmseg dataset, transform,
model, hook, metric and visualizer into mmseg's registries (each subpackage
applies the compatibility layer, :mod:`clst_mmseg.compat`, before it
imports mmseg). Configs name it in ``custom_imports``; code calls
:func:`clst_mmseg.register_all_modules`.
"""
from . import (datasets, engine, evaluation, models,  # noqa: F401
               visualization)
