"""clst_mmseg: CLST and UDA baselines for semantic segmentation on
mmsegmentation 1.x.

Importing the package is light (no torch, no mmseg), so the benchmark layer
(:mod:`clst_mmseg.benchmark`) and the tools' argument parsing start in a
fraction of a second. :func:`register_all_modules` applies the compatibility
layer (:mod:`clst_mmseg.compat`) and registers every dataset, transform,
model, hook and metric into mmseg's registries. It runs whenever a config is
built:

- ``configs/_base_/default_runtime.py`` names ``clst_mmseg.registration`` in
  ``custom_imports``, so ``Config.fromfile`` registers (our tools, mmseg's
  own ``tools/train.py`` and ``mmseg.apis.init_model`` alike);
- our tools call it before they load a config;
- ``import clst_mmseg`` calls it in a process that has already imported
  torch, so a config that names ``clst_mmseg`` itself in ``custom_imports``
  keeps working with mmseg's tools (they import torch and mmseg before they
  read a config), and so does ``import torch; import clst_mmseg``.
"""
import importlib
import sys

__version__ = '0.1.0'


def register_all_modules() -> None:
    """Apply the compatibility layer and register clst_mmseg's modules into
    mmseg's registries (idempotent; imports torch and mmseg)."""
    importlib.import_module('clst_mmseg.registration')


if 'torch' in sys.modules:
    register_all_modules()
