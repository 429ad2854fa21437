"""The benchmark layer: suite spec -> runs -> results store -> tables and
plots (``tools/benchmark.py``). It knows nothing about models: a run is a
``tools/train.py`` + ``tools/test.py`` subprocess, a result is a JSON record.

The modules import nothing from the rest of clst_mmseg (and not torch), so
planning, reporting and the Slurm submission stay light.
"""
