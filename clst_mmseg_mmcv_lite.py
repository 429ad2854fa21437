"""Lets ``mmseg`` be imported before ``clst_mmseg`` on mmcv-lite.

mmsegmentation 1.2 imports ``mmcv.ops`` when ``mmseg.apis`` or
``mmseg.models`` is imported, and mmcv-lite's ``mmcv.ops`` needs the compiled
``mmcv._ext`` it lacks, so ``from mmseg.apis import init_model`` fails unless
``import clst_mmseg`` ran first (its compat layer serves ``mmcv.ops``). This
module is imported at interpreter start by ``clst_mmseg_mmcv_lite.pth``
(installed into site-packages by ``setup.py``) and only adds an import hook:
the first time anything imports ``mmcv.ops`` without ``mmcv._ext`` being
installed, it installs the compat layer's ``mmcv.ops`` instead. It imports
nothing at start-up, does nothing with full mmcv, and removes itself after
its first use (start-up imports are kept to what Python has loaded
already).
"""
import importlib.machinery
import sys

_OPS = 'mmcv.ops'


class _ExistingModule:
    """Loader that hands the import system a module built elsewhere."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


def _compat_module():
    """``clst_mmseg.compat``, loaded without running ``clst_mmseg``'s
    ``__init__`` (which imports mmseg, the import in progress)."""
    import importlib.util
    import os.path as osp
    name = 'clst_mmseg.compat'
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec('clst_mmseg')
    if package is None or not package.submodule_search_locations:
        return None
    path = osp.join(list(package.submodule_search_locations)[0], 'compat.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # ``from . import compat`` finds it later
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class MMCVLiteOpsFinder:
    """Serves the compat layer's ``mmcv.ops`` on mmcv-lite (see module
    docstring)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _OPS:
            return None
        import importlib.util
        uninstall()
        if importlib.util.find_spec('mmcv._ext') is not None:
            return None  # full mmcv: its own mmcv.ops works
        compat = _compat_module()
        if compat is None or not compat.install_lite_mmcv_ops():
            return None
        module = sys.modules.pop(_OPS)  # the import system puts it back
        spec = importlib.machinery.ModuleSpec(
            _OPS, _ExistingModule(module), is_package=True)
        spec.submodule_search_locations = list(module.__path__)
        return spec


_FINDER = MMCVLiteOpsFinder()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent; nothing to do
    once ``mmcv.ops`` is imported)."""
    if _OPS not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
