"""How many torch threads a CPU run gets: the rule the benchmark runner and
the tools share."""
import math
import os
from typing import Optional

#: cgroup files that cap the CPU time of a container (v2, then v1).
_CGROUP_V2 = '/sys/fs/cgroup/cpu.max'
_CGROUP_V1 = ('/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
              '/sys/fs/cgroup/cpu/cpu.cfs_period_us')


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_cores() -> Optional[int]:
    """Cores a cgroup CPU quota allows (a container started with
    ``--cpus=N``), or None without a quota."""
    text = _read(_CGROUP_V2)
    if text:
        quota, _, period = text.partition(' ')
        if quota != 'max' and period:
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    quota, period = (_read(p) for p in _CGROUP_V1)
    if quota and period and int(quota) > 0:
        return max(1, math.ceil(int(quota) / int(period)))
    return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup
    quota (torch's own default counts the machine's cores, which in a
    container can be many more than it may use)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else (os.cpu_count() or 1)
    quota = _cgroup_cores()
    return min(cores, quota) if quota else cores


def cpu_threads(jobs: int = 1) -> int:
    """Threads per run when ``jobs`` CPU runs share this machine's cores
    (more threads than cores in total makes every run many times slower).

    Args:
        jobs (int): Runs at once. Defaults to 1.

    Returns:
        int: At least 1.
    """
    return max(1, available_cores() // max(1, jobs))


def set_tool_threads() -> Optional[int]:
    """Give a tool's torch the runner's thread count for one run
    (:func:`cpu_threads`), unless ``OMP_NUM_THREADS`` says otherwise.

    Returns:
        int | None: The thread count set; None if ``OMP_NUM_THREADS`` is
        set (torch follows it) or it equals torch's default already.
    """
    if os.environ.get('OMP_NUM_THREADS'):
        return None
    import torch
    threads = cpu_threads(1)
    if torch.get_num_threads() == threads:
        return None
    torch.set_num_threads(threads)
    return threads
