"""What a training run leaves in its work dir, read back: mmengine's
scalar logs (``<work_dir>/<timestamp>/vis_data/scalars.json``, one JSON
object per line), checkpoints and the console log."""
import glob
import json
import math
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from clst_mmseg.run_files import NON_FINITE_MARKER

_ITER = re.compile(r'iter_(\d+)\.pth$')


def read_scalars(work_dir: str) -> List[Dict]:
    """Every logged scalar entry of every attempt (resumed runs start a new
    timestamp folder), in order. Lines being written are skipped.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        list[dict]: Entries; training ones have ``iter`` and ``loss``,
        validation ones ``mIoU`` and ``step``.
    """
    entries = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return entries


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def first_nan_loss(entries: List[Dict]) -> Optional[Dict]:
    """The first training entry with a non-finite loss term.

    Returns:
        dict | None: ``iter``, ``key`` and ``value`` (as text).
    """
    for e in entries:
        for key, value in e.items():
            if 'loss' in key and isinstance(value, (int, float)) \
                    and not _finite(value):
                return dict(iter=e.get('iter', e.get('step')), key=key,
                            value=str(value))
    return None


def non_finite_marker(work_dir: str) -> Optional[Dict]:
    """The marker ``NonFiniteCheckHook`` wrote when it stopped the training
    (``where``: ``loss`` or ``weights``, ``iter``, ``key``, ``value``).

    Returns:
        dict | None: The marker's content.
    """
    try:
        with open(osp.join(work_dir, NON_FINITE_MARKER)) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def set_aside_marker(work_dir: str) -> None:
    """Rename an earlier attempt's marker (``non_finite.previous.json``)
    before an attempt resumes in the same work dir, so that only this
    attempt's marker counts (no clock comparison: work dirs may live on
    network file systems)."""
    path = osp.join(work_dir, NON_FINITE_MARKER)
    if osp.exists(path):
        os.replace(path, path[:-len('.json')] + '.previous.json')


def last_activity(work_dir: str) -> Optional[float]:
    """The newest modification time of any file in the work dir (the end
    of an attempt whose process died without saying when), or None."""
    newest = None
    for folder, _, files in os.walk(work_dir):
        for name in files:
            try:
                t = osp.getmtime(osp.join(folder, name))
            except OSError:
                continue
            newest = t if newest is None else max(newest, t)
    return newest


def val_curve(entries: List[Dict]) -> List[Dict]:
    """Target-val mIoU (and class subsets) against the iteration; a step
    validated twice (resume) keeps its last value.

    Returns:
        list[dict]: ``step`` plus every ``mIoU*`` key, sorted by step.
    """
    by_step = {}
    for e in entries:
        if 'mIoU' in e and 'step' in e:
            by_step[int(e['step'])] = {
                k: v for k, v in e.items() if k.startswith('mIoU')
            }
    return [dict(step=s, **by_step[s]) for s in sorted(by_step)]


def train_curve(entries: List[Dict],
                prefixes: Tuple[str, ...] = ('cl.', 'st.', 'ens.',
                                             'pl_diag.'),
                max_points: int = 200) -> List[Dict]:
    """Method-specific training scalars (names starting with one of
    ``prefixes``: CLST's contrastive term, self-training, the ensemble, the
    pseudo-label diagnostics)
    against the iteration, as logged (averaged over the logger's window);
    an iteration logged twice (resume) keeps its last values; thinned to at
    most ``max_points`` evenly spaced iterations (the last one kept).

    Returns:
        list[dict]: ``iter`` plus the matching keys, sorted by iteration.
    """
    by_iter = {}
    for e in entries:
        if not _finite(e.get('iter')):
            continue
        values = {k: v for k, v in e.items()
                  if k.startswith(prefixes) and _finite(v)}
        if values:
            by_iter[int(e['iter'])] = values
    its = sorted(by_iter)
    if len(its) > max_points:
        step = (len(its) - 1) / (max_points - 1)
        its = [its[round(i * step)] for i in range(max_points)]
    return [dict(iter=i, **by_iter[i]) for i in its]


def pseudo_label_curve(entries: List[Dict]) -> List[Dict]:
    """The pseudo-label diagnostics (``pl_diag.*`` scalars of
    ``PseudoLabelDiagnosticsHook``) against the iteration (see
    :func:`train_curve`); empty when the run had the hook off."""
    return train_curve(entries, prefixes=('pl_diag.', ))


def read_trajectory(work_dir: str) -> List[Dict]:
    """The checkpoint trajectory ``CheckpointTrajectoryHook`` wrote
    (``<work_dir>/trajectory.json``: ``step``, ``metrics``, ``criteria`` per
    evaluated checkpoint); empty if the run had the hook off or the file is
    unreadable."""
    path = osp.join(work_dir, 'trajectory.json')
    try:
        with open(path) as f:
            points = json.load(f)
    except (OSError, ValueError):
        return []
    return points if isinstance(points, list) else []


def peak_gpu_memory_mb(entries: List[Dict]) -> Optional[float]:
    """Max of mmengine's logged ``memory`` (MB of CUDA memory allocated);
    None on the CPU, where it is not logged."""
    values = [e['memory'] for e in entries if _finite(e.get('memory'))]
    return float(max(values)) if values else None


def peak_rss_growth_mb(entries: List[Dict]) -> Optional[float]:
    """Max of the host memory growth during training that
    ``MemoryGrowthHook`` logs (``host_rss_growth_mb``; one per attempt);
    None if no attempt logged it."""
    values = [e['host_rss_growth_mb'] for e in entries
              if _finite(e.get('host_rss_growth_mb'))]
    return float(max(values)) if values else None


def last_train_iter(entries: List[Dict]) -> Optional[int]:
    its = [int(e['iter']) for e in entries if _finite(e.get('iter'))]
    return max(its) if its else None


def iteration_of(checkpoint: str) -> Optional[int]:
    """``.../iter_2000.pth`` -> 2000 (also ``best_mIoU_iter_500.pth``)."""
    m = _ITER.search(osp.basename(checkpoint))
    return int(m.group(1)) if m else None


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint mmengine wrote last (``last_checkpoint`` file), or the
    highest ``iter_*.pth``."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            path = f.read().strip()
        if path and not osp.isabs(path):
            path = osp.join(work_dir, path)
        if path and osp.isfile(path):
            return path
    ckpts = [p for p in glob.glob(osp.join(work_dir, 'iter_*.pth'))
             if iteration_of(p) is not None]
    return max(ckpts, key=iteration_of) if ckpts else None


def best_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``CheckpointHook(save_best='mIoU')`` kept."""
    ckpts = sorted(glob.glob(osp.join(work_dir, 'best_mIoU_*.pth')),
                   key=lambda p: iteration_of(p) or -1)
    return ckpts[-1] if ckpts else None


def cuda_used(log_text: str) -> Optional[bool]:
    """mmengine prints ``CUDA available: True/False`` in its environment
    report; None if the log does not say."""
    m = re.search(r'CUDA available:\s*(True|False)', log_text)
    return None if m is None else m.group(1) == 'True'


def error_summary(log_text: str, lines: int = 30) -> Dict:
    """The last exception line of a console log and its tail.

    Returns:
        dict: ``message`` (the last ``...Error: ...`` / ``error: ...``
        line, or the last non-empty line) and ``log_tail``.
    """
    rows = [ln.rstrip() for ln in log_text.splitlines() if ln.strip()]
    pattern = re.compile(r'^([A-Za-z_][\w.]*(Error|Exception|Interrupt)\b|'
                         r'error: )')
    message = next((ln for ln in reversed(rows) if pattern.match(ln)),
                   rows[-1] if rows else '')
    return dict(message=message, log_tail='\n'.join(rows[-lines:]))
