"""Records -> tidy pandas tables -> one leaderboard per task.

Pure functions over data (as DomainBed's ``collect_results``): nothing here
reads files or knows about models, so every number in a table can be
rebuilt from the stored records.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .references import has_references, lookup
from .significance import holm, welch

ROLES = ('baseline', 'method', 'upper_bound')
#: How the protocol-matched figure of a ``best_val`` reference is chosen.
MATCHED_PROTOCOL = ('best validation snapshot (target labels choose it: '
                    'oracle selection)')


def best_val_values(rec: Dict) -> Dict:
    """The validation point of a record's curve with the highest primary
    mIoU (the first ``mIoU*`` class subset the evaluator reports, else
    ``mIoU``): ``best_val_step`` and ``best_val.<key>`` per mIoU key.

    Returns:
        dict: Empty if the record has no curve.
    """
    curve = [c for c in rec.get('curve') or [] if isinstance(c, dict)]
    if not curve:
        return {}
    keys = [k for k in (rec.get('metrics') or {}) if k.startswith('mIoU')]
    subsets = [k for k in keys if k != 'mIoU']
    primary = (subsets or keys or ['mIoU'])[0]
    scored = [c for c in curve if isinstance(c.get(primary), (int, float))]
    if not scored:
        return {}
    best = max(scored, key=lambda c: c[primary])  # first of equal maxima
    out = {'best_val_step': best.get('step')}
    for k, v in best.items():
        if k.startswith('mIoU'):
            out[f'best_val.{k}'] = np.nan if v is None else float(v)
    return out


def records_frame(records: Sequence[Dict]) -> pd.DataFrame:
    """One row per *finished* record: identity, compute and every metric
    (``mIoU*``, ``aAcc`` ...) and per-class IoU (``IoU.<class>``).

    Args:
        records (list[dict]): Result records.

    Returns:
        pd.DataFrame: The tidy table (empty if nothing finished).
    """
    rows = []
    for rec in records:
        if rec.get('status') != 'finished':
            continue
        devices = rec.get('devices') or {}
        hours = (rec.get('compute_time_s') or rec.get('wall_time_s')
                 or 0.0) / 3600.0
        row = dict(
            task=rec['task'], method=rec['method'], seed=rec['seed'],
            run_id=rec['run_id'], config_hash=rec.get('config_hash'),
            iterations=rec.get('iterations'),
            device_type=devices.get('type', 'cpu'),
            device_hours=hours * (devices.get('count') or 1),
            peak_memory_mb=rec.get('peak_memory_mb'),
            peak_memory_kind=rec.get('peak_memory_kind'),
            oracle_selection=bool(
                (rec.get('checkpoint') or {}).get('oracle_selection')),
            git_revision=(rec.get('git') or {}).get('revision'),
            code_sha256=(rec.get('code') or {}).get('sha256'),
            git_dirty=(rec.get('git') or {}).get('dirty'))
        resolved = rec.get('resolved_config') or {}
        row.update(reference_declared='reference_key' in resolved,
                   reference_key=resolved.get('reference_key'),
                   init=(rec.get('init') or {}).get('summary'),
                   synthia_scoring=resolved.get('synthia_scoring'))
        row.update(best_val_values(rec))
        for key, value in (rec.get('metrics') or {}).items():
            row[key] = np.nan if value is None else float(value)
        for name, value in (rec.get('per_class_iou') or {}).items():
            row[f'IoU.{name}'] = np.nan if value is None else float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def task_metrics(frame: pd.DataFrame) -> List[str]:
    """The mIoU keys a task reports: its class subsets (``mIoU19``;
    ``mIoU16``, ``mIoU13``) if the evaluator defines any, else ``mIoU``."""
    keys = [c for c in frame.columns if c.startswith('mIoU')
            and frame[c].notna().any()]
    subsets = [k for k in keys if k != 'mIoU']
    return subsets or [k for k in keys if k == 'mIoU']


def task_classes(frame: pd.DataFrame) -> List[str]:
    """Class names with an IoU value in ``frame``, in record order (a frame
    of several tasks holds every task's class columns, NaN elsewhere)."""
    return [c[4:] for c in frame.columns
            if c.startswith('IoU.') and frame[c].notna().any()]


def _ordered(methods: Sequence[Dict]) -> List[Dict]:
    for m in methods:
        if m.get('role', 'method') not in ROLES:
            raise ValueError(f'method {m["name"]!r}: role must be one of '
                             f'{ROLES}')
    return sorted(methods,
                  key=lambda m: ROLES.index(m.get('role', 'method')))


def leaderboard(frame: pd.DataFrame, task: str, methods: Sequence[Dict],
                references: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """The leaderboard of one task: one row per method with finished runs.

    Args:
        frame (pd.DataFrame): :func:`records_frame` output.
        task (str): Task key.
        methods (list[dict]): Rows to show, each ``name``, ``title``,
            ``reference`` (reference key or None) and ``role``
            (``baseline`` rows first, ``method``, ``upper_bound`` last).
        references (pd.DataFrame, optional): Published numbers
            (:func:`~.references.load_references`).

    Returns:
        pd.DataFrame: Columns ``task, method, title, role, n_seeds, seeds,
        config_hash``; per metric ``<m>_mean, <m>_std`` (sample std,
        ddof=1; NaN for one seed), ``<m>_paper, <m>_delta`` (mean - paper),
        ``<m>_source``, ``<m>_no_reference`` (the task has published
        numbers, none of this row's variant), ``<m>_matched_mean`` /
        ``_std`` (the protocol-matched figure where the reference chose its
        checkpoint on target val: the best validation point of each run's
        curve; NaN otherwise); ``reference`` (the key compared with: the
        configs' declared ``reference_key``, else the suite entry's);
        ``IoU.<class>`` (mean over seeds); ``iterations``, ``device``,
        ``device_hours`` (per run), ``device_hours_total``,
        ``peak_memory_mb`` (max), ``peak_memory_kind``,
        ``oracle_selection``, ``init`` (the initialisation the runs used),
        ``synthia_scoring`` (the configs' SYNTHIA scoring convention; empty
        on other tasks).

        ``<m>_delta`` is the protocol-matched figure minus the paper where
        there is one, else the headline (last iterate) minus the paper.

    Raises:
        ValueError: A method whose records come from different configs
            (mixing them would average different experiments).
    """
    sub = frame[frame['task'] == task] if len(frame) else frame
    if sub.empty:
        return pd.DataFrame()
    metrics = task_metrics(sub)
    classes = task_classes(sub)
    rows = []
    for m in _ordered(methods):
        runs = sub[sub['method'] == m['name']].sort_values('seed')
        if runs.empty:
            continue
        hashes = sorted(runs['config_hash'].dropna().unique())
        if len(hashes) > 1:
            raise ValueError(
                f'{task}/{m["name"]}: records from {len(hashes)} different '
                f'configs ({", ".join(h[:10] for h in hashes)}); a row must '
                'average the seeds of one config')
        row = dict(task=task, method=m['name'], title=m.get('title',
                                                            m['name']),
                   role=m.get('role', 'method'), n_seeds=len(runs),
                   seeds=','.join(str(s) for s in runs['seed']),
                   config_hash=hashes[0] if hashes else None)
        ref_key = _reference_key(runs, m)
        row['reference'] = ref_key
        for key in metrics:
            values = runs[key] if key in runs else pd.Series(dtype=float)
            row[f'{key}_mean'] = values.mean()
            row[f'{key}_std'] = values.std(ddof=1)
            ref = lookup(references, task, key, ref_key)
            row[f'{key}_paper'] = ref['value'] if ref else np.nan
            matched = pd.Series(dtype=float)
            if ref and ref['checkpoint_selection'] == 'best_val':
                col = f'best_val.{key}'
                matched = runs[col] if col in runs else matched
            row[f'{key}_matched_mean'] = matched.mean()
            row[f'{key}_matched_std'] = matched.std(ddof=1)
            compared = (row[f'{key}_matched_mean']
                        if matched.notna().any() else row[f'{key}_mean'])
            row[f'{key}_delta'] = compared - ref['value'] if ref else np.nan
            row[f'{key}_source'] = _source_text(ref) if ref else ''
            row[f'{key}_no_reference'] = (
                ref is None and m.get('role', 'method') == 'method'
                and has_references(references, task, key))
        for c in classes:
            row[f'IoU.{c}'] = runs[f'IoU.{c}'].mean()
        kinds = sorted(runs['device_type'].unique())
        row.update(
            iterations=int(runs['iterations'].max())
            if runs['iterations'].notna().any() else None,
            device=kinds[0] if len(kinds) == 1 else 'mixed',
            device_hours=runs['device_hours'].mean(),
            device_hours_total=runs['device_hours'].sum(),
            peak_memory_mb=runs['peak_memory_mb'].max(),
            peak_memory_kind=','.join(
                sorted(runs['peak_memory_kind'].dropna().unique())),
            oracle_selection=bool(runs['oracle_selection'].any()),
            init=', '.join(sorted(runs['init'].dropna().unique()))
            if 'init' in runs else '',
            synthia_scoring=', '.join(sorted(
                runs['synthia_scoring'].dropna().unique()))
            if 'synthia_scoring' in runs else '')
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_key(runs: pd.DataFrame, method: Dict) -> Optional[str]:
    """The reference key a row is compared with: what its configs declare
    (``reference_key``, None included), else the suite entry's."""
    if 'reference_declared' in runs and runs['reference_declared'].any():
        key = runs['reference_key'].iloc[0]
        return key if isinstance(key, str) else None
    return method.get('reference')


def _source_text(ref: Dict) -> str:
    """Where a reference comes from and the protocol that produced it."""
    return (f'{ref["source"]}; {ref["variant"]}; {ref["backbone"]}; '
            f'init: {ref["init"]}; checkpoint: {ref["selection_detail"]}; '
            f'evaluation: {ref["eval_protocol"]}; test-time augmentation: '
            f'{ref["tta"]}')


def comparisons(frame: pd.DataFrame, task: str, metric: str,
                pairs: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Pairwise Welch's t-tests between methods over seeds, as one family.

    Args:
        frame (pd.DataFrame): :func:`records_frame` output.
        task (str): Task key.
        metric (str): Column compared, e.g. ``'mIoU19'``.
        pairs (list[tuple[str, str]]): ``(a, b)`` method pairs; pairs with a
            method without finished runs are left out.

    Returns:
        pd.DataFrame: ``a, b, metric, diff, t, df, p, ci_low, ci_high, n_a,
        n_b`` (:func:`~.significance.welch`: the 95 % Welch t-interval of
        the difference, NaN below 2 seeds a side) and ``p_holm`` (Holm's
        adjustment over the pairs of this table).
    """
    rows = []
    if len(frame) == 0 or metric not in frame:
        return pd.DataFrame(rows)
    sub = frame[frame['task'] == task]
    for a, b in pairs:
        xa = sub.loc[sub['method'] == a, metric].tolist()
        xb = sub.loc[sub['method'] == b, metric].tolist()
        if not xa or not xb:
            continue
        rows.append(dict(a=a, b=b, metric=metric, **welch(xa, xb)))
    out = pd.DataFrame(rows)
    if len(out):
        out['p_holm'] = holm(out['p'].tolist())
    return out
