"""The one place that adapts mmsegmentation 1.2 / mmcv 2.1 / mmengine 0.10 to
current PyTorch.

Every adaptation below names the upstream behaviour it works around, is
applied once by :func:`apply`, which importing this module runs (every
clst_mmseg subpackage that imports mmseg imports this module first), and has
a test in ``tests/test_compat.py``. Nothing is patched on disk.

1. ``mmcv.ops`` without compiled kernels. mmseg 1.2.2 imports ``mmcv.ops`` at
   import time (``point_sample``, ``sigmoid_focal_loss``), and
   ``mmcv/ops/__init__.py`` imports every op, most of which load the compiled
   ``mmcv._ext`` that mmcv-lite lacks. We register a lazy ``mmcv.ops`` package
   that serves the pure-PyTorch ops from mmcv's own files and, for ops that
   need kernels, a placeholder that raises :class:`CompiledOpUnavailable` when
   used. ``mmcv._ext`` itself is never stubbed, so mmengine's
   ``mmcv_full_available()`` keeps answering False. With full mmcv installed
   this does nothing.
2. Safe checkpoints. torch >= 2.6 loads with ``weights_only=True`` and rejects
   mmengine's message hub (``HistoryBuffer`` objects, numpy arrays and
   scalars), so ``--resume``, ``load_from`` and ``tools/test.py`` fail on the
   run's own checkpoints. Instead of switching the safe loader off, the
   runner saves ``meta`` and ``message_hub`` as plain values (dicts, lists,
   tensors, Python numbers) and decodes them after loading. Every file is
   then loaded with ``weights_only=True``, ours and foreign ones alike.
   Every load passes ``weights_only=True`` itself (:func:`safe_load`),
   never relying on torch's default: mmengine 0.10.7's checkpoint loaders
   (``mmengine.runner.checkpoint``: ``load_from_local``, ``load_from_ceph``,
   ``load_from_pavi``, ``load_from_openmmlab``; behind ``load_from``,
   ``--resume``, ``init_cfg`` pretrained weights, ``CheckpointLoader`` and
   ``load_checkpoint``) call ``torch.load`` without it, so
   ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (or a torch < 2.6) makes them
   unpickle arbitrary objects, i.e. run the code a file names. That module
   sees, as its ``torch``, a view of torch whose ``load`` is
   :func:`safe_load`. Its URL loader (``http://``, ``torchvision://``,
   ``open-mmlab://``) goes through ``torch.hub.load_state_dict_from_url``,
   whose ``weights_only`` defaults to False; we pass True.
   Loading errors become one-line :class:`CheckpointError` naming the file:
   a file the safe loader refuses (:class:`UnsafeCheckpointError`: pickled
   Python objects, not written by this project's tools), and a truncated or
   empty one. Checkpoints are
   written atomically (a temp file in the same folder, fsync, rename):
   mmengine's ``LocalBackend.put`` writes in place, so a run killed (or a
   disk that fills up) while saving left a partial ``iter_N.pth``, which
   ``last_checkpoint`` never names now, since mmengine updates it only after
   the save returns.
3. DDP on the CPU. mmengine 0.10.7 calls ``torch.cuda.set_device`` in
   ``init_dist('pytorch')``, passes ``device_ids=[LOCAL_RANK]`` to DDP and keeps
   SyncBN layers, all of which fail without CUDA. Without CUDA we initialise
   the process group with gloo, drop ``device_ids`` and revert SyncBN to BN.
4. ``pkg_resources``: mmengine 0.10.7 imports it and setuptools >= 82 no
   longer ships it; ``setup.py`` pins ``setuptools<82`` (no code here).
5. Exit after DDP. Under DDP, torch's gloo process group outlives
   ``destroy_process_group`` (DDP's C++ reducer keeps it; its threads are
   still running at exit), and its worker threads (``pt_gloo_runloop``)
   drop each finished work there, whose saved thread-local state holds
   Python objects. A drop that comes while the interpreter finalizes takes
   the GIL; CPython ends such a thread with ``pthread_exit``, whose forced
   unwind through a noexcept destructor calls ``std::terminate``:
   ``terminate called without an active exception``, SIGABRT, now and then
   (more often on a loaded machine), in a rank that had finished.
   :func:`exit_after_distributed` ends such a process after Python's exit
   handlers (logging, multiprocessing children, finalizers) but without the
   interpreter's finalization.
"""
import ast
import atexit
import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import pickle
import sys
import types
import warnings
from typing import Any, Dict

import numpy as np
import torch

_APPLIED = False

FULL_MMCV_HINT = ('install full mmcv (with compiled ops) instead of '
                  'mmcv-lite: `pip install -U openmim && mim install '
                  '"mmcv>=2.0.0rc4,<2.2.0"`')


# ---------------------------------------------------------------------------
# 1. mmcv.ops on mmcv-lite
# ---------------------------------------------------------------------------
class CompiledOpUnavailable(RuntimeError):
    """Raised when code uses an mmcv op that needs ``mmcv._ext``."""


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv ships its compiled extension."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except ImportError:
        return False


def _missing_op(name: str, reason: str) -> type:
    """A stand-in for a compiled op: importable, ``isinstance``-safe, and
    raising a clear error when called or instantiated."""

    def _raise(cls, *args, **kwargs):
        raise CompiledOpUnavailable(
            f'mmcv.ops.{name} needs mmcv\'s compiled kernels (mmcv._ext), '
            f'which are not installed ({reason}); {FULL_MMCV_HINT}')

    return type(name, (), {
        '__new__': _raise,
        '__doc__': f'Unavailable compiled mmcv op {name}.',
        '__module__': 'mmcv.ops',
    })


class _LiteOps(types.ModuleType):
    """Lazy ``mmcv.ops``: resolves a name to mmcv's own submodule on first
    access; ops whose submodule needs ``mmcv._ext`` become placeholders."""

    def __init__(self, ops_dir: str):
        super().__init__('mmcv.ops')
        self.__path__ = [ops_dir]
        self.__file__ = os.path.join(ops_dir, '__init__.py')
        self.__package__ = 'mmcv.ops'
        self._exports = self._read_exports(self.__file__)
        self.__all__ = sorted(self._exports)

    @staticmethod
    def _read_exports(init_file: str) -> Dict[str, tuple]:
        """Map each exported name to ``(submodule, attribute)`` by reading the
        ``from .x import y as z`` lines of mmcv's real ``ops/__init__.py``."""
        with open(init_file, encoding='utf-8') as f:
            tree = ast.parse(f.read())
        exports = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for alias in node.names:
                    exports[alias.asname or alias.name] = (node.module,
                                                           alias.name)
        return exports

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__') or name not in self._exports:
            raise AttributeError(f"module 'mmcv.ops' has no attribute {name!r}")
        submodule, attr = self._exports[name]
        try:
            value = getattr(
                importlib.import_module(f'mmcv.ops.{submodule}'), attr)
        except ImportError as e:  # the submodule loads mmcv._ext
            value = _missing_op(name, str(e))
        setattr(self, name, value)
        return value


def install_lite_mmcv_ops() -> bool:
    """Register the lazy ``mmcv.ops`` when ``mmcv._ext`` is missing.

    Returns:
        bool: True if the stand-in was installed (or already was).
    """
    if mmcv_has_compiled_ops():
        return False
    current = sys.modules.get('mmcv.ops')
    if isinstance(current, _LiteOps):
        return True
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return False
    import mmcv

    # mmcv.cnn's transformer module imports this op's submodule directly
    # and warns on every import that mmcv-lite lacks it; using the op
    # still raises (CompiledOpUnavailable), so the warning is only noise.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    ops_dir = os.path.join(list(spec.submodule_search_locations)[0], 'ops')
    module = _LiteOps(ops_dir)
    sys.modules['mmcv.ops'] = module
    mmcv.ops = module
    return True


# ---------------------------------------------------------------------------
# 2. checkpoints loadable with weights_only=True
# ---------------------------------------------------------------------------
_TAG = '__clst_mmseg_encoded__'


def encode_plain(obj: Any) -> Any:
    """Turn numpy arrays/scalars and mmengine ``HistoryBuffer`` objects into
    values torch's ``weights_only`` unpickler accepts (tagged dicts of
    tensors, lists and Python numbers). Inverse: :func:`decode_plain`."""
    from mmengine.logging import HistoryBuffer
    if isinstance(obj, HistoryBuffer):
        return {
            _TAG: 'HistoryBuffer',
            'max_length': obj.max_length,
            'log': encode_plain(obj._log_history),
            'count': encode_plain(obj._count_history),
        }
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return {_TAG: 'object_array', 'items': [encode_plain(x) for x in
                                                    obj.tolist()]}
        return {_TAG: 'ndarray', 'tensor': torch.from_numpy(obj.copy())}
    if isinstance(obj, np.generic):
        return {_TAG: 'npscalar', 'dtype': obj.dtype.str,
                'value': obj.item()}
    if isinstance(obj, dict):
        return {k: encode_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [encode_plain(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def decode_plain(obj: Any) -> Any:
    """Inverse of :func:`encode_plain`; leaves anything else unchanged."""
    if isinstance(obj, dict):
        kind = obj.get(_TAG)
        if kind == 'HistoryBuffer':
            from mmengine.logging import HistoryBuffer
            buf = HistoryBuffer(max_length=obj['max_length'])
            buf._log_history = decode_plain(obj['log'])
            buf._count_history = decode_plain(obj['count'])
            return buf
        if kind == 'ndarray':
            return obj['tensor'].numpy()
        if kind == 'object_array':
            return np.array([decode_plain(x) for x in obj['items']],
                            dtype=object)
        if kind == 'npscalar':
            return np.dtype(obj['dtype']).type(obj['value'])
        return {k: decode_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [decode_plain(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


_ENCODED_KEYS = ('meta', 'message_hub')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded (one line naming the file)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint the safe loader refuses: it pickles Python objects
    besides tensors and plain values (loading it could run code)."""


def checkpoint_error(filename: str, exc: BaseException) -> Exception:
    """The one-line error for a ``torch.load`` failure of ``filename``, or
    ``exc`` itself when it is not about the file's content (or is one
    already)."""
    if isinstance(exc, CheckpointError):
        return exc
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and \
            text.startswith('Weights only load failed'):
        return UnsafeCheckpointError(
            f'{filename}: refused by safe loading (weights_only=True): it '
            'holds pickled Python objects besides tensors and plain values, '
            "so it was not written by this project's tools")
    if isinstance(exc, EOFError) or (
            isinstance(exc, (RuntimeError, pickle.UnpicklingError))
            and ('PytorchStreamReader' in text or 'zip archive' in text
                 or 'invalid load key' in text)):
        first = text.splitlines()[0].split('. ')[0] if text else ''
        return CheckpointError(f'{filename}: truncated or corrupt checkpoint '
                               f'({first or "empty file"})')
    return exc


def safe_load(f, map_location=None, **kwargs) -> Any:
    """``torch.load`` with ``weights_only=True`` passed explicitly, whatever
    the caller or torch's default (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``)
    says: no file can run code when it is loaded.

    Args:
        f (str | file-like): The checkpoint.
        map_location: Same as :func:`torch.load`.
        **kwargs: Further :func:`torch.load` arguments (``weights_only`` is
            always True).

    Raises:
        CheckpointError: One line naming the file when the safe loader
            refuses it (:class:`UnsafeCheckpointError`) or it is truncated,
            corrupt or empty.
    """
    kwargs['weights_only'] = True
    try:
        return torch.load(f, map_location=map_location, **kwargs)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as e:
        error = checkpoint_error(f if isinstance(f, str) else
                                 getattr(f, 'name', repr(f)), e)
        if error is e:
            raise
        raise error from None


class _SafeLoadTorch(types.ModuleType):
    """``torch`` as ``mmengine.runner.checkpoint`` sees it: torch itself,
    except that ``load`` is :func:`safe_load`."""

    def __init__(self):
        super().__init__('torch')
        self.load = safe_load

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


def _is_local(filename: str) -> bool:
    return isinstance(filename, str) and '://' not in filename


def _save_atomically(orig_save, checkpoint, filename, *args, **kwargs):
    """``orig_save`` into a hidden temp file next to ``filename``, fsync,
    then rename; on any error the temp file is removed and the old
    ``filename`` (if any) is untouched."""
    folder, name = os.path.split(filename)
    tmp = os.path.join(folder, f'.{name}.tmp-{os.getpid()}')
    try:
        orig_save(checkpoint, tmp, *args, **kwargs)
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp):
            raise OSError(e.errno, e.strerror, filename) from e
        raise


def _patch_checkpoint_io() -> None:
    """Encode ``meta`` and ``message_hub`` when the runner saves a checkpoint
    and decode them when it loads one (resume, ``load_from``, test)."""
    import mmengine.runner.runner as runner_module
    if getattr(runner_module.save_checkpoint, '_clst_mmseg', False):
        return
    orig_save = runner_module.save_checkpoint
    orig_load = runner_module._load_checkpoint

    @functools.wraps(orig_save)
    def save_checkpoint(checkpoint, filename, *args, **kwargs):
        checkpoint = dict(checkpoint)
        for key in _ENCODED_KEYS:
            if key in checkpoint:
                checkpoint[key] = encode_plain(checkpoint[key])
        if _is_local(filename):
            return _save_atomically(orig_save, checkpoint, filename, *args,
                                    **kwargs)
        return orig_save(checkpoint, filename, *args, **kwargs)

    @functools.wraps(orig_load)
    def load_checkpoint(filename, *args, **kwargs):
        try:
            checkpoint = orig_load(filename, *args, **kwargs)
        except (pickle.UnpicklingError, EOFError, RuntimeError) as e:
            error = checkpoint_error(filename, e)
            if error is e:
                raise
            raise error from None
        if isinstance(checkpoint, dict):
            for key in _ENCODED_KEYS:
                if key in checkpoint:
                    checkpoint[key] = decode_plain(checkpoint[key])
        return checkpoint

    save_checkpoint._clst_mmseg = True
    runner_module.save_checkpoint = save_checkpoint
    runner_module._load_checkpoint = load_checkpoint


def _patch_checkpoint_loaders() -> None:
    """Make mmengine's checkpoint loaders (local files, s3, pavi, open-mmlab
    files, and their downloads: pretrained weights) use the safe loader."""
    import mmengine.runner.checkpoint as ckpt_module
    if getattr(ckpt_module.load_url, '_clst_mmseg', False):
        return
    ckpt_module.torch = _SafeLoadTorch()
    safe_load_url = functools.partial(torch.hub.load_state_dict_from_url,
                                      weights_only=True)
    safe_load_url._clst_mmseg = True
    ckpt_module.load_url = safe_load_url


# ---------------------------------------------------------------------------
# 3. distributed training on the CPU
# ---------------------------------------------------------------------------
def _patch_cpu_distributed() -> None:
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel, \
        revert_sync_batchnorm
    from mmengine.runner import Runner

    if getattr(dist_utils._init_dist_pytorch, '_clst_mmseg', False):
        return
    orig_init = dist_utils._init_dist_pytorch

    @functools.wraps(orig_init)
    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return orig_init(backend, init_backend=init_backend, **kwargs)
        # upstream calls torch.cuda.set_device(LOCAL_RANK) unconditionally
        if backend != 'gloo':
            logging.getLogger('clst_mmseg').warning(
                f'no CUDA device: using the gloo backend instead of {backend}')
        torch.distributed.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)

    init_dist_pytorch._clst_mmseg = True
    dist_utils._init_dist_pytorch = init_dist_pytorch

    orig_ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(orig_ddp_init)
    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        # upstream passes device_ids=[LOCAL_RANK]; DDP rejects device_ids for
        # a module whose parameters live on the CPU
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        orig_ddp_init(self, module,
                      detect_anomalous_params=detect_anomalous_params,
                      **kwargs)

    MMDistributedDataParallel.__init__ = ddp_init

    orig_wrap = Runner.wrap_model

    @functools.wraps(orig_wrap)
    def wrap_model(self, model_wrapper_cfg, model):
        # upstream keeps SyncBN under DDP; torch's SyncBN has no CPU kernel
        if self.distributed and not torch.cuda.is_available():
            model = revert_sync_batchnorm(model)
        return orig_wrap(self, model_wrapper_cfg, model)

    Runner.wrap_model = wrap_model


# ---------------------------------------------------------------------------
# 5. exit after DDP
# ---------------------------------------------------------------------------
def exit_after_distributed(status: Any = 0) -> None:
    """End a process that ran a torch.distributed process group as
    ``sys.exit(status)`` would (an int, or a message printed to stderr with
    status 1), running Python's exit handlers but not the interpreter's
    finalization (see 5. in the module docstring). Never returns."""
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:
        print(status, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def apply() -> None:
    """Apply every adaptation once (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    install_lite_mmcv_ops()
    _patch_checkpoint_io()
    _patch_checkpoint_loaders()
    _patch_cpu_distributed()
    _APPLIED = True


apply()
