"""The method check of ``tools/check_method.py``: a method's config trained
for a few iterations of its task, in this process and in two forked
processes under DDP, and its runs compared (determinism, exact resume, a
checkpoint that holds every piece of changing state, pseudo-label
diagnostics, DDP); see ``docs/adding_a_method.md``. The benchmark
record check lives above it, in :mod:`clst_mmseg.benchmark.method_record`.
"""
from .checks import (CheckResult, CheckSettings, check_method,
                     short_run_options)

__all__ = ['CheckResult', 'CheckSettings', 'check_method',
           'short_run_options']
