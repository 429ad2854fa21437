"""clst_mmseg: CLST and UDA baselines for semantic segmentation on
mmsegmentation 1.x.

Importing the package applies the compatibility layer (see
:mod:`clst_mmseg.compat`) and registers every dataset, transform, model, hook
and metric into mmseg's registries.
"""
from . import compat

compat.apply()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'
