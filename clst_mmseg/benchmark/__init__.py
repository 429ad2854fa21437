"""The benchmark layer: suite spec -> runs -> results store -> tables and
plots (``tools/benchmark.py``). It knows nothing about models: a run is a
``tools/train.py`` subprocess (and ``tools/test.py`` only when the training
did not evaluate the chosen checkpoint), a result is a JSON record.

The modules import neither torch nor mmseg, and from the rest of clst_mmseg
only light modules (``clst_mmseg.apis``' ``threads``, ``config_checks``,
``os_errors``, ``pretrained_config``; ``clst_mmseg.run_files``,
``clst_mmseg.code_fingerprint``), so planning, reporting and the Slurm
submission stay light (``tests/test_lazy_imports.py``). Nothing outside
this package imports it: what the training side shares with it lives in
those lower modules (``tests/test_code_identity.py``).
"""
