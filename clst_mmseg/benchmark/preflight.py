"""Pre-flight of a suite: what its runs need, checked before a single run is
executed or submitted.

A paper-scale suite is dozens of GPU-days; a half-downloaded dataset, a
weights file that is missing or does not load, runs that need more GPU
memory than the devices have, or a disk that fills after the tenth
checkpoint would each make every run fail on its own (under Slurm: dozens of
failing jobs). :func:`preflight` checks, for the runs a suite would execute:

- data: every dataset present, complete (official counts) and converted
  (the datasets' own checks, :mod:`clst_mmseg.datasets.verify`), and the
  class statistics of rare class sampling where a config samples rare
  classes;
- weights: every local pretrained file present and loadable with
  ``torch.load(weights_only=True)`` (:mod:`clst_mmseg.apis.pretrained_check`);
- GPU memory: each run's need (``resource_needs.csv``: per config family,
  each figure labelled measured, computed or estimated) against the local
  GPUs (nvidia-smi) or the suite's ``gpu_memory_gib`` (Slurm);
- disk: checkpoints of the runs to execute (``resource_needs.csv`` and each
  config's ``max_keep_ckpts``) against the free space of the work dir.

The result is one table (:func:`format_table`); ``tools/benchmark.py
SUITE --preflight`` prints it, and a real run of a suite with paper-scale
runs (:func:`needs_preflight`) stops on a failed check before it starts.
The datasets and weights are checked through the lower modules; nothing
here builds a model.
"""
import csv
import os
import os.path as osp
import shutil
import subprocess
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .initialisation import _plain, is_local, pretrained_entries
from .spec import RunSpec

#: Per config family: GPU peak and checkpoint size, and how each is known.
NEEDS_PATH = osp.join(osp.dirname(__file__), 'resource_needs.csv')
#: Label files whose values are read per dataset (sizes: every file).
LABEL_SAMPLE = 20
OK, FAIL, WARN, SKIP = 'ok', 'FAIL', 'warn', '-'
GIB = 2**30


@dataclass
class Check:
    """One row of the pre-flight table.

    Args:
        check (str): What is checked (``data``, ``weights`` ...).
        subject (str): Which thing (a dataset key, a file, a family).
        status (str): ``ok``, ``FAIL``, ``warn`` or ``-`` (not applicable).
        detail (str): What was found.
        fix (str, optional): What fixes a failure.
    """
    check: str
    subject: str
    status: str
    detail: str
    fix: Optional[str] = None


def _resolved(run: RunSpec) -> Dict:
    return _plain(run.resolved_config)


def _datasets_of(cfg: Dict) -> List[Dict]:
    """The folder datasets a config reads (leaf configs with a type)."""
    out = []

    def walk(node):
        if not isinstance(node, dict):
            return
        if 'source' in node and 'target' in node:
            walk(node['source']), walk(node['target'])
        elif 'datasets' in node:
            for sub in node['datasets']:
                walk(sub)
        elif isinstance(node.get('dataset'), dict):
            walk(node['dataset'])
        else:
            out.append(node)

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walk((cfg.get(loader) or {}).get('dataset'))
    return out


def needs_preflight(runs: Sequence[RunSpec]) -> bool:
    """Whether a run reads data or weights from disk that a user must
    download: a dataset with an explicit ``data_root`` (the built-in tasks
    generate theirs) or a local pretrained weights file."""
    for run in runs:
        cfg = _resolved(run)
        if any(d.get('data_root') for d in _datasets_of(cfg)):
            return True
        if any(is_local(e['checkpoint'])
               for _, e in pretrained_entries(cfg.get('model') or {})):
            return True
    return False


def load_needs(path: str = NEEDS_PATH) -> Dict[str, Dict]:
    """``resource_needs.csv``: family -> its row (numbers as floats)."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    out = {}
    for i, row in enumerate(rows):
        for key in ('gpu_peak_gib', 'checkpoint_gib'):
            try:
                row[key] = float(row[key])
            except ValueError:
                raise ValueError(f'{path}: line {i + 2}: {key} '
                                 f'{row[key]!r} is not a number') from None
        for key in ('gpu_basis', 'checkpoint_basis'):
            if row[key] not in ('measured', 'computed', 'estimated'):
                raise ValueError(f'{path}: line {i + 2}: {key} must be '
                                 'measured, computed or estimated, got '
                                 f'{row[key]!r}')
        out[row['family']] = row
    return out


def config_family(cfg: Dict) -> str:
    """``<model type>/<backbone type><depth>``, e.g. ``DACS/ResNet101``."""
    model = cfg.get('model') or {}
    seg = model.get('segmentor') if isinstance(model.get('segmentor'),
                                               dict) else model
    backbone = (seg or {}).get('backbone') or {}
    return (f'{model.get("type")}/{backbone.get("type")}'
            f'{backbone.get("depth") or ""}')


# ----------------------------------------------------------------- data
def _runs_subject(runs: Sequence[RunSpec]) -> str:
    """``task/method, method (N run(s))`` for a group of runs."""
    names: Dict[str, List[str]] = {}
    for run in runs:
        methods = names.setdefault(run.task, [])
        if run.method not in methods:
            methods.append(run.method)
    return ('; '.join(f'{task}/{", ".join(m)}' for task, m in names.items())
            + f' ({len(runs)} run(s))')


def _data_checks(runs: Sequence[RunSpec]) -> List[Check]:
    import clst_mmseg
    clst_mmseg.register_all_modules()
    from clst_mmseg.datasets.verify import (check_leaf, class_stats_problems,
                                            leaf_datasets,
                                            synthia_scoring_problems)
    rows: List[Check] = []
    subjects: Dict[str, str] = {}  # dataset identity -> table subject
    results: Dict[str, Tuple[List[str], List[str]]] = {}
    # one row per missing statistics file, naming the runs that read it
    stats_runs: Dict[Tuple[str, Optional[str]], List[RunSpec]] = {}
    for run in runs:
        cfg = _resolved(run)
        partial = bool(cfg.get('allow_partial_data', False))
        for _, leaf, labels in leaf_datasets(cfg):
            if not leaf.get('data_root'):
                continue  # generated on first use (the built-in tasks)
            ident = repr(sorted(
                ((k, v) for k, v in leaf.items() if k != 'pipeline'),
                key=str)) + repr((labels, partial))
            if ident not in results:
                results[ident] = check_leaf(leaf, labels, LABEL_SAMPLE,
                                            partial)
                prefix = (leaf.get('data_prefix') or {}).get('img_path')
                subjects[ident] = (
                    f'{leaf["data_root"]}' +
                    (f' {prefix}' if prefix else '') +
                    ('' if labels else ' (images only)'))
        for p in class_stats_problems(cfg):
            stats_runs.setdefault((str(p), getattr(p, 'fix', None)),
                                  []).append(run)
        for p in synthia_scoring_problems(cfg):
            rows.append(Check('config', run.label, FAIL, str(p)))
    for (problem, fix), readers in stats_runs.items():
        rows.append(Check('class stats', _runs_subject(readers), FAIL,
                          problem, fix))
    for ident, (problems, notes) in results.items():
        if problems:
            for p in problems:
                rows.append(Check('data', subjects[ident], FAIL, str(p),
                                  getattr(p, 'fix', None)))
        else:
            rows.append(Check('data', subjects[ident], OK,
                              '; '.join(notes) or 'present'))
    if not any(r.check == 'class stats' for r in rows) and results:
        rows.append(Check('class stats', 'rare class sampling', SKIP,
                          'no config samples rare classes'))
    return rows


# -------------------------------------------------------------- weights
def _weight_checks(runs: Sequence[RunSpec]) -> List[Check]:
    from clst_mmseg.apis.pretrained_check import pretrained_weights_problems
    rows: List[Check] = []
    done = set()
    for run in runs:
        cfg = _resolved(run)
        model = cfg.get('model') or {}
        files = [e['checkpoint'] for _, e in pretrained_entries(model)
                 if is_local(e['checkpoint'])]
        new = [f for f in files if f not in done]
        if not new:
            continue
        done.update(new)
        if cfg.get('allow_random_init', False):
            rows += [Check('weights', f, WARN, f'not checked: {run.label} '
                           'sets allow_random_init=True') for f in new]
            continue
        problems = pretrained_weights_problems(cfg, load=True)
        bad = {}
        for p in problems:
            path = next((f for f in new if f in p), None)
            if path is not None:
                bad[path] = p
        for f in new:
            if f in bad:
                rows.append(Check('weights', f, FAIL, str(bad[f]),
                                  bad[f].fix))
            else:
                rows.append(Check('weights', f, OK,
                                  f'{os.path.getsize(f) / 2**20:,.1f} MiB, '
                                  'loads with weights_only=True'))
    return rows


# --------------------------------------------------------------- devices
def local_gpus(ids: Optional[Sequence[str]] = None
               ) -> List[Tuple[str, str, float]]:
    """``(index, name, memory GiB)`` of the local GPUs nvidia-smi lists
    (only ``ids`` when given); empty without nvidia-smi."""
    try:
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=index,name,memory.total',
             '--format=csv,noheader,nounits'], capture_output=True,
            text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(',')]
        if len(parts) == 3 and parts[2].replace('.', '').isdigit():
            if ids is None or parts[0] in ids:
                gpus.append((parts[0], parts[1], float(parts[2]) / 1024))
    return gpus


def _memory_checks(runs: Sequence[RunSpec], needs: Dict[str, Dict],
                   options: Dict, executor: str,
                   gpus: Optional[Sequence[str]],
                   query_gpus=local_gpus) -> List[Check]:
    rows: List[Check] = []
    device = options.get('device', 'auto')
    if device == 'cpu':
        return [Check('GPU memory', 'all runs', SKIP,
                      "device='cpu': runs on the CPU")]
    if executor == 'slurm':
        have = options.get('gpu_memory_gib')
        where = ('the Slurm request (suite gpu_memory_gib = '
                 f'{have:g} GiB)' if have else None)
    else:
        found = query_gpus(gpus)
        have = min((g[2] for g in found), default=None)
        where = (', '.join(f'GPU {i} {n} {m:.0f} GiB' for i, n, m in found)
                 if found else None)
    families: Dict[str, List[str]] = {}
    for run in runs:
        families.setdefault(config_family(_resolved(run)), []).append(
            run.label)
    for family, labels in families.items():
        row = needs.get(family)
        subject = f'{family} ({len(labels)} run(s))'
        if row is None:
            rows.append(Check(
                'GPU memory', subject, WARN,
                f'no figure for {family} in {osp.basename(NEEDS_PATH)}',
                f'add a row to {NEEDS_PATH} (measure: the peak_memory_mb of '
                'a tools/smoke_paper_scale.py run on a GPU)'))
            continue
        need = f'needs ~{row["gpu_peak_gib"]:g} GiB ({row["gpu_basis"]})'
        if have is None:
            if executor == 'slurm':
                rows.append(Check(
                    'GPU memory', subject, WARN,
                    f'{need}; the Slurm request does not say how much '
                    'memory its GPUs have',
                    'set gpu_memory_gib in the suite to what the partition '
                    'provides'))
            else:
                rows.append(Check(
                    'GPU memory', subject,
                    FAIL if device == 'cuda' or needs_preflight(
                        [r for r in runs if r.label in labels]) else WARN,
                    f'{need}; no GPU visible (nvidia-smi lists none): '
                    'the runs would train on the CPU',
                    'run where GPUs are visible, or --executor slurm'))
        elif row['gpu_peak_gib'] > have:
            rows.append(Check(
                'GPU memory', subject, FAIL,
                f'{need} > {have:.0f} GiB of {where}',
                'larger GPUs, --amp (mixed precision), or a smaller batch '
                'or crop via --cfg-options (changes the protocol)'))
        else:
            rows.append(Check('GPU memory', subject, OK,
                              f'{need} <= {have:.0f} GiB of {where}'))
    return rows


def _max_keep(cfg: Dict) -> int:
    hook = ((cfg.get('default_hooks') or {}).get('checkpoint') or {})
    keep = hook.get('max_keep_ckpts')
    return keep if isinstance(keep, int) and keep > 0 else 0


def _disk_checks(runs: Sequence[RunSpec], needs: Dict[str, Dict],
                 work_dir: str) -> List[Check]:
    total, unknown = 0.0, []
    for run in runs:
        cfg = _resolved(run)
        row = needs.get(config_family(cfg))
        if row is None:
            unknown.append(run.label)
            continue
        iters = (cfg.get('train_cfg') or {}).get('max_iters') or 0
        interval = ((cfg.get('default_hooks') or {}).get('checkpoint')
                    or {}).get('interval') or iters or 1
        written = max(1, iters // interval)
        keep = _max_keep(cfg) or written
        # one more than kept: the newest is written before the oldest goes
        total += row['checkpoint_gib'] * min(written, keep + 1)
    probe = osp.abspath(work_dir)
    while not osp.isdir(probe) and osp.dirname(probe) != probe:
        probe = osp.dirname(probe)
    free = shutil.disk_usage(probe).free / GIB
    detail = (f'checkpoints of {len(runs) - len(unknown)} run(s) need '
              f'~{total:.1f} GiB; {free:.1f} GiB free at {probe}')
    if unknown:
        detail += f' ({len(unknown)} run(s) without a figure)'
    if total > free:
        return [Check('disk', work_dir, FAIL, detail,
                      'free space, or --work-dir on a larger disk')]
    return [Check('disk', work_dir, WARN if unknown else OK, detail)]


def preflight(suite, runs: Sequence[RunSpec], executor: str = 'local',
              gpus: Optional[Sequence[str]] = None,
              needs_path: str = NEEDS_PATH,
              query_gpus=local_gpus) -> List[Check]:
    """Every check of the runs a suite would execute.

    Args:
        suite (Suite): The loaded suite (its options and work dir).
        runs (list[RunSpec]): The runs to execute.
        executor (str): ``'local'`` or ``'slurm'``.
        gpus (list[str], optional): ``--gpus`` ids (local).
        needs_path (str): The per-family resource figures.
        query_gpus (callable): ids -> ``(index, name, GiB)`` of the local
            GPUs (tests replace nvidia-smi).

    Returns:
        list[Check]: The rows, data first.
    """
    if not runs:
        return [Check('runs', suite.path, OK, 'nothing to execute')]
    needs = load_needs(needs_path)
    rows = _data_checks(runs)
    rows += _weight_checks(runs)
    rows += _memory_checks(runs, needs, suite.options, executor, gpus,
                           query_gpus)
    rows += _disk_checks(runs, needs, suite.work_dir)
    # one row per finding: datasets read with different class lists (a
    # 16-class SYNTHIA config) fail alike when they are missing
    unique: Dict[Tuple, Check] = {}
    for r in rows:
        unique.setdefault((r.check, r.subject, r.status, r.detail), r)
    return list(unique.values())


def failed(rows: Sequence[Check]) -> List[Check]:
    """The rows that stop a run."""
    return [r for r in rows if r.status == FAIL]


def format_table(rows: Sequence[Check]) -> str:
    """The table: one line per check, a ``fix:`` line below a failure (a
    fix shared by several rows shown once), and a summary line."""
    widths = [max([len(getattr(r, k)) for r in rows] + [len(k)])
              for k in ('check', 'subject', 'status')]
    widths[1] = min(widths[1], 60)
    head = ('check'.ljust(widths[0]) + '  ' + 'subject'.ljust(widths[1])
            + '  ' + 'status'.ljust(widths[2]) + '  detail')
    lines = [head, '-' * len(head)]
    fixes = set()
    for r in rows:
        subject = (r.subject if len(r.subject) <= widths[1] else
                   '...' + r.subject[-(widths[1] - 3):])
        lines.append(f'{r.check.ljust(widths[0])}  {subject.ljust(widths[1])}'
                     f'  {r.status.ljust(widths[2])}  {r.detail}')
        if r.status in (FAIL, WARN) and r.fix and r.fix not in fixes:
            lines.append(' ' * (widths[0] + widths[1] + widths[2] + 6)
                         + f'fix: {r.fix}')
            fixes.add(r.fix)
    n_fail = len(failed(rows))
    n_warn = sum(r.status == WARN for r in rows)
    lines.append(f'pre-flight: {n_fail} failed, {n_warn} warning(s), '
                 f'{sum(r.status == OK for r in rows)} ok' +
                 ('; nothing is executed' if n_fail else ''))
    return '\n'.join(lines)
