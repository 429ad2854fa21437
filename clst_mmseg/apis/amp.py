"""``--amp``: mixed precision for every optimizer of a config."""
import logging
from typing import List, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

CPU_AMP_DTYPE = 'bfloat16'


def amp_device_error(dtype: Optional[str],
                     device: Optional[str] = None) -> Optional[str]:
    """The device rule of ``--amp``, in one place: None where mixed
    precision can run, else the one-line reason.

    On an accelerator (CUDA, NPU, MLU, MUSA: mmengine's ``AmpOptimWrapper``)
    any ``dtype`` runs. On a CPU-only machine only bfloat16 does (torch's
    CPU autocast has no float16), and only when asked for explicitly, so
    that ``--amp`` never silently means another precision than on a GPU.

    Args:
        dtype (str, optional): ``optim_wrapper.dtype`` (None: the device's
            default, float16 on CUDA).
        device (str, optional): mmengine's device name; None asks
            ``mmengine.device.get_device()``.

    Returns:
        str or None: The error line, or None.
    """
    if device is None:
        from mmengine.device import get_device
        device = get_device()
    if device != 'cpu' or str(dtype).replace('torch.', '') == CPU_AMP_DTYPE:
        return None
    return ('--amp: no GPU here, and float16 autocast needs one; on the CPU '
            f'ask for bfloat16 explicitly: --cfg-options '
            f'+optim_wrapper.dtype={CPU_AMP_DTYPE}'
            + (f' (got optim_wrapper.dtype={dtype})' if dtype else ''))


def _wrapper_cfgs(optim_wrapper: dict) -> List[Tuple[str, dict]]:
    """The top-level wrapper config and, for
    :class:`UDAOptimWrapperConstructor`, each extra wrapper (a dict with an
    ``optimizer``), with their config key paths."""
    found = [('optim_wrapper', optim_wrapper)]
    for name, value in optim_wrapper.items():
        if isinstance(value, dict) and 'optimizer' in value:
            found.append((f'optim_wrapper.{name}', value))
    return found


def enable_amp(cfg: Config, device: Optional[str] = None) -> None:
    """Turn every optimizer wrapper of ``cfg`` into a mixed-precision one,
    in place (``tools/train.py --amp``).

    Each wrapper gets its own loss scaler: the segmentor's and, for the
    adversarial methods, the discriminators' (one ``AmpOptimWrapper`` per
    optimizer inside the ``OptimWrapperDict``), since one scaler stepping
    two optimizers would skip or scale both on the other's overflow.
    ``optim_wrapper.dtype`` applies to every wrapper that does not set its
    own. On a CPU-only machine (bfloat16 asked for, see
    :func:`amp_device_error`) the wrappers become
    :class:`BFloat16OptimWrapper`, which mmengine lacks.

    Args:
        cfg (Config): The training config.
        device (str, optional): mmengine's device name; None asks
            ``mmengine.device.get_device()``.

    Raises:
        ValueError: One line naming the key, for a wrapper type that has no
            mixed-precision counterpart or an unsupported device/dtype.
    """
    top = cfg.optim_wrapper
    on_cpu = amp_device_error(None, device) is not None
    amp_types = ('AmpOptimWrapper', 'BFloat16OptimWrapper')
    for key, wrapper in _wrapper_cfgs(top):
        kind = wrapper.get('type', 'OptimWrapper')
        if kind in amp_types:
            print_log(f'{key}: AMP is already enabled ({kind}).',
                      logger='current', level=logging.WARNING)
            continue
        if kind != 'OptimWrapper':
            raise ValueError(f'{key}.type: --amp needs OptimWrapper, got '
                             f'{kind}')
        dtype = wrapper.get('dtype', top.get('dtype'))
        error = amp_device_error(dtype, device)
        if error:
            raise ValueError(error.replace('optim_wrapper.dtype', key +
                                           '.dtype'))
        if dtype is not None:
            wrapper['dtype'] = dtype
        if on_cpu:
            wrapper['type'] = 'BFloat16OptimWrapper'
        else:
            wrapper['type'] = 'AmpOptimWrapper'
            wrapper['loss_scale'] = 'dynamic'


def _amp_wrappers(optim_wrapper):
    """The ``AmpOptimWrapper`` configs inside a config's ``optim_wrapper``
    (itself, or nested ones such as the discriminators' wrapper)."""
    if isinstance(optim_wrapper, dict):
        if optim_wrapper.get('type') == 'AmpOptimWrapper':
            yield optim_wrapper
        for value in optim_wrapper.values():
            yield from _amp_wrappers(value)


def config_amp_error(optim_wrapper: dict,
                     device: Optional[str] = None) -> Optional[str]:
    """:func:`amp_device_error` for a config that sets ``AmpOptimWrapper``
    itself (not through ``--amp``): mmengine's wrapper would otherwise stop
    with an assertion deep in the runner on a CPU-only machine.

    Args:
        optim_wrapper (dict): The config's ``optim_wrapper``.
        device (str, optional): mmengine's device name.

    Returns:
        str | None: The first wrapper's error line, or None.
    """
    top_dtype = (optim_wrapper or {}).get('dtype')
    for wrapper in _amp_wrappers(optim_wrapper):
        error = amp_device_error(wrapper.get('dtype', top_dtype), device)
        if error:
            return error
    return None
