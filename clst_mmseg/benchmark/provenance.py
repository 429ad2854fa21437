"""Where a run ran: git revision, package versions, hardware. Collected on
the machine that executes the run (a Slurm node, a local GPU), without
importing torch."""
import os
import os.path as osp
import platform
import socket
import subprocess
from importlib import metadata
from typing import Dict, List, Optional

#: Distribution names reported in every record.
PACKAGES = ('torch', 'torchvision', 'mmsegmentation', 'mmengine', 'mmcv',
            'mmcv-lite', 'numpy', 'clst_mmseg')


def _run(cmd: List[str], cwd: Optional[str] = None) -> Optional[str]:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_info(repo: str, exclude: Optional[str] = None) -> Dict:
    """Revision of ``repo`` and whether tracked files differ from it.

    Args:
        repo (str): A folder inside the repository.
        exclude (str, optional): A folder left out of the dirty check (the
            results folder, whose records the benchmark itself rewrites).

    Returns:
        dict: ``revision`` (None outside git), ``dirty`` (bool | None) and
        ``dirty_paths`` (the first 20 modified tracked files).
    """
    rev = _run(['git', 'rev-parse', 'HEAD'], cwd=repo)
    if rev is None:
        return dict(revision=None, dirty=None, dirty_paths=[])
    cmd = ['git', 'status', '--porcelain', '--untracked-files=no', '--', '.']
    if exclude:
        top = (_run(['git', 'rev-parse', '--show-toplevel'], cwd=repo)
               or '').strip()
        rel = osp.relpath(osp.abspath(exclude), top) if top else None
        if rel and not rel.startswith('..'):
            cmd.append(f':(exclude){rel}')
    status = _run(cmd, cwd=repo)
    # which files differ (paths relative to the repository root, at most
    # 20), so a reader can tell a README edit from a changed model
    changed = [ln[3:] for ln in (status or '').splitlines() if ln.strip()]
    return dict(revision=rev.strip(),
                dirty=None if status is None else bool(changed),
                dirty_paths=changed[:20])


def versions() -> Dict[str, Optional[str]]:
    """Python and package versions (None for a package not installed)."""
    out = {'python': platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> Optional[str]:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def visible_gpus() -> List[Dict]:
    """GPUs this process may use (``nvidia-smi``, filtered by
    ``CUDA_VISIBLE_DEVICES``); empty without NVIDIA GPUs."""
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if visible is not None and visible.strip() in ('', '-1'):
        return []
    out = _run(['nvidia-smi', '--query-gpu=index,name,memory.total',
                '--format=csv,noheader'])
    if not out:
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(',')]
        if len(parts) == 3:
            gpus.append(dict(index=parts[0], name=parts[1],
                             memory=parts[2]))
    if visible:
        keep = [v.strip() for v in visible.split(',')]
        if all(k.isdigit() for k in keep):
            gpus = [g for g in gpus if g['index'] in keep]
    return gpus


def hardware() -> Dict:
    """Host, CPU and visible GPUs."""
    return dict(host=socket.gethostname(), platform=platform.platform(),
                cpu=_cpu_model(), cpu_count=os.cpu_count(),
                gpus=visible_gpus())
