"""Published numbers to compare reproductions with.

They live in ``reference_numbers.csv`` beside this file, never in code. A
row is one published number of one *variant* of a method, identified by its
``key`` (e.g. ``advent_adv``: ADVENT's AdvEnt alone; ``cbst`` vs ``cbst_sp``),
with the protocol that produced it (backbone, init, checkpoint selection,
evaluation, test-time augmentation), its source and how it was checked.

A leaderboard row is compared only with a reference of the variant it runs:
its config declares the key (top-level ``reference_key``; None: no published
number for this variant), or, for configs that declare nothing, its suite
entry does (``dict(name=..., reference=key)``, by default the method name).
A key that matches no row means "no comparable reference".
"""
import os.path as osp
from typing import Dict, Optional

import pandas as pd

DEFAULT_PATH = osp.join(osp.dirname(__file__), 'reference_numbers.csv')
COLUMNS = ('task', 'metric', 'key', 'method', 'variant', 'value', 'backbone',
           'init', 'checkpoint_selection', 'selection_detail',
           'eval_protocol', 'tta', 'source', 'checked')
#: How the published number's checkpoint was chosen: the last iterate, the
#: best on target val (target labels choose: oracle selection), or unknown.
SELECTIONS = ('last', 'best_val', 'not_stated')
_REQUIRED_TEXT = ('key', 'variant', 'backbone', 'source', 'checked')


def load_references(path: str = DEFAULT_PATH) -> pd.DataFrame:
    """Read and check the reference table.

    Args:
        path (str): CSV file. Defaults to the package's table.

    Returns:
        pd.DataFrame: One row per (task, metric, key).

    Raises:
        ValueError: Missing columns, a non-numeric value, an empty
            key/variant/backbone/source/checked, an unknown
            checkpoint_selection or a duplicated (task, metric, key).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'reference numbers file not found: {path}')
    refs = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in refs.columns]
    if missing:
        raise ValueError(f'{path}: missing column(s) {missing}; expected '
                         f'{list(COLUMNS)}')
    values = pd.to_numeric(refs['value'], errors='coerce')
    for i in refs.index[values.isna()]:
        raise ValueError(f'{path}: line {i + 2}: value '
                         f'{refs.at[i, "value"]!r} is not a number')
    for col in _REQUIRED_TEXT:
        for i in refs.index[refs[col].str.strip() == '']:
            raise ValueError(f'{path}: line {i + 2}: empty {col}')
    for i in refs.index[~refs['checkpoint_selection'].isin(SELECTIONS)]:
        raise ValueError(f'{path}: line {i + 2}: checkpoint_selection '
                         f'{refs.at[i, "checkpoint_selection"]!r} is not one '
                         f'of {SELECTIONS}')
    refs['value'] = values.astype(float)
    dup = refs.duplicated(['task', 'metric', 'key'], keep=False)
    if dup.any():
        rows = refs.loc[dup, ['task', 'metric', 'key']].values.tolist()
        raise ValueError(f'{path}: duplicated (task, metric, key): {rows}')
    return refs


def reference_keys(refs: pd.DataFrame) -> set:
    """All reference keys (the ``key`` column)."""
    return set(refs['key'])


def lookup(refs: pd.DataFrame, task: str, metric: str,
           key: Optional[str]) -> Optional[Dict]:
    """The published number of one variant on one task and metric.

    Args:
        refs (pd.DataFrame): :func:`load_references` output.
        task (str): Task key, e.g. ``'gta2cs'``.
        metric (str): e.g. ``'mIoU19'``.
        key (str, optional): Reference key; None gives None.

    Returns:
        dict | None: The row's columns (``value`` a float) but task, metric.
    """
    if key is None or refs is None:
        return None
    hit = refs[(refs['task'] == task) & (refs['metric'] == metric)
               & (refs['key'] == key)]
    if hit.empty:
        return None
    row = hit.iloc[0]
    out = {c: row[c] for c in COLUMNS if c not in ('task', 'metric')}
    out['value'] = float(row['value'])
    return out


def has_references(refs: Optional[pd.DataFrame], task: str,
                   metric: str) -> bool:
    """Whether any published number exists for a task and metric."""
    return refs is not None and bool(
        ((refs['task'] == task) & (refs['metric'] == metric)).any())
