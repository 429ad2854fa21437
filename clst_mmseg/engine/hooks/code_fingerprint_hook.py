"""Writes the fingerprint of the code that trains a run into its work dir."""
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from clst_mmseg.code_fingerprint import collect, write_fingerprint


@HOOKS.register_module()
class CodeFingerprintHook(Hook):
    """Write ``<work_dir>/code_fingerprint.json``: the SHA-256 of every
    project source file this process imported (the ``clst_mmseg`` package
    but its benchmark layer, and the config's ``custom_imports`` modules
    with their folder; see :mod:`clst_mmseg.code_fingerprint`) and one hash
    over them all. The benchmark puts it in the run's record and compares
    it with the files as they are later (a run whose code changed since is
    stale).

    Written when training starts, once model, data sets and hooks are built
    (the files are hashed as close to their import as a hook can), and again
    when it ends, adding the modules imported on the way; a file hashed at
    the start keeps that hash, so editing the code while a run trains does
    not relabel it. Rank 0 writes. ``tools/train.py`` registers it
    (:func:`clst_mmseg.apis.register_tool_hooks`).
    """
    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._files: Optional[Dict[str, str]] = None

    def _write(self, runner) -> None:
        if runner.rank != 0:
            return
        code = collect(runner.cfg.get('custom_imports'), known=self._files)
        self._files = code['files']
        write_fingerprint(runner.work_dir, code)

    def before_train(self, runner) -> None:
        self._write(runner)

    def after_train(self, runner) -> None:
        self._write(runner)
