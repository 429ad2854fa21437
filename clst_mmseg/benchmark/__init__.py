"""The benchmark layer: suite spec -> runs -> results store -> tables and
plots (``tools/benchmark.py``). It knows nothing about models: a run is a
``tools/train.py`` subprocess (and ``tools/test.py`` only when the training
did not evaluate the chosen checkpoint), a result is a JSON record.

The modules import neither torch nor mmseg, and from the rest of clst_mmseg
only the light ``clst_mmseg.apis`` modules (``threads``, ``config_checks``,
``os_errors``), so planning, reporting and the Slurm submission stay light
(``tests/test_lazy_imports.py``).
"""
