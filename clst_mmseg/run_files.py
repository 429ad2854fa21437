"""Names of the files a training leaves in its work dir for the tools that
run it to read (the benchmark layer, :mod:`clst_mmseg.benchmark`).

They are defined here, below both sides, so that the training side (hooks,
``tools/train.py``) never imports the benchmark layer. Light: no imports.
"""

#: What ``NonFiniteCheckHook`` leaves when it stops a run at a non-finite
#: loss or weight (``where``, ``iter``, ``key``, ``value``).
NON_FINITE_MARKER = 'non_finite.json'

#: The code that trained the run (:mod:`clst_mmseg.code_fingerprint`),
#: written by ``CodeFingerprintHook`` when training starts and ends.
CODE_FINGERPRINT = 'code_fingerprint.json'
