"""Measures how much host memory training adds to the process."""
import os
import re
from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

#: Name of the logged scalar (MB), read back by the benchmark.
SCALAR = 'host_rss_growth_mb'
_STATUS = '/proc/self/status'


def _status_kb(field: str) -> Optional[int]:
    try:
        with open(_STATUS) as f:
            m = re.search(rf'^{field}:\s+(\d+) kB', f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (``VmHWM``) to the current RSS
    (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``). False where that is
    not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


@HOOKS.register_module()
class MemoryGrowthHook(Hook):
    """Logs the growth of the process's resident set size from the start of
    training to its peak during training (scalar ``host_rss_growth_mb``, in
    ``vis_data/scalars.json`` and every other vis backend).

    This is what differs between methods on the CPU: activations,
    gradients, optimizer state and method state (e.g. CLST's ensemble
    memory). The process total (~1 GB of libraries and data for every
    method) is not. Same measure as ``tools/benchmark_speed.py``, read
    from the kernel's peak counter instead of sampling: the counter is reset
    at ``before_train`` and read at ``after_train``. Not logged where
    ``/proc`` does not offer that (non-Linux).
    """
    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._start_kb: Optional[int] = None

    def before_train(self, runner) -> None:
        self._start_kb = _status_kb('VmRSS') if reset_peak_rss() else None

    def after_train(self, runner) -> None:
        peak = _status_kb('VmHWM')
        if self._start_kb is None or peak is None:
            return
        growth = max(0, peak - self._start_kb) / 1024.0
        runner.visualizer.add_scalars({SCALAR: round(growth, 1)},
                                      step=runner.iter)
        runner.logger.info(f'host memory growth during training: '
                           f'{growth:.1f} MB (pid {os.getpid()})')
