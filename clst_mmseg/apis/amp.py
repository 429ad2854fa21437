"""Whether this machine can run the mixed precision a config asks for."""
from typing import Any, Optional


def _amp_wrappers(optim_wrapper: Any):
    """The optimizer-wrapper configs of a config's ``optim_wrapper`` (one,
    or several under a constructor such as the discriminators' wrappers)."""
    if isinstance(optim_wrapper, dict):
        if optim_wrapper.get('type') == 'AmpOptimWrapper':
            yield optim_wrapper
        for value in optim_wrapper.values():
            yield from _amp_wrappers(value)


def amp_device_error(optim_wrapper: Any) -> Optional[str]:
    """One line saying why the config's AMP cannot run here, or None.

    mmengine's ``AmpOptimWrapper`` needs an accelerator (CUDA, NPU, MLU,
    MUSA); on a CPU-only machine it fails with an assertion deep in the
    runner. Only float16 on an accelerator is refused here: a wrapper that
    asks for ``dtype='bfloat16'`` is left to whatever runs it.

    Args:
        optim_wrapper (dict): The config's ``optim_wrapper``.

    Returns:
        str | None: The error line.
    """
    from mmengine.device import get_device
    wrappers = list(_amp_wrappers(optim_wrapper))
    if not wrappers or get_device() != 'cpu':
        return None
    if all(str(w.get('dtype')).endswith('bfloat16') for w in wrappers):
        return None
    return ('--amp (optim_wrapper.type=AmpOptimWrapper) needs a CUDA '
            'device and this machine has none; train without --amp on the '
            'CPU')
