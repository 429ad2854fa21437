"""Published numbers to compare reproductions with.

They live in ``reference_numbers.csv`` beside this file (columns ``task,
metric, method, variant, value, backbone, source``), never in code. A row's
``method`` is a *reference key*: by default a suite method uses the key equal
to its name (``configs/<method>/``); a suite entry maps any other name to a
key with e.g. ``dict(name='self_training_cb', reference='cbst')``. Keys:
``advent`` is AdvEnt+MinEnt (what ``configs/advent/<task>.py`` trains),
``advent_adv`` AdvEnt alone (``configs/advent/<task>_advent.py``).
"""
import os.path as osp
from typing import Dict, Optional

import pandas as pd

DEFAULT_PATH = osp.join(osp.dirname(__file__), 'reference_numbers.csv')
COLUMNS = ('task', 'metric', 'method', 'variant', 'value', 'backbone',
           'source')


def load_references(path: str = DEFAULT_PATH) -> pd.DataFrame:
    """Read and check the reference table.

    Args:
        path (str): CSV file. Defaults to the package's table.

    Returns:
        pd.DataFrame: One row per (task, metric, method).

    Raises:
        ValueError: Missing columns, a non-numeric value, an empty source or
            a duplicated (task, metric, method).
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
    for i in refs.index[refs['source'].str.strip() == '']:
        raise ValueError(f'{path}: line {i + 2}: empty source')
    refs['value'] = values.astype(float)
    dup = refs.duplicated(['task', 'metric', 'method'], keep=False)
    if dup.any():
        rows = refs.loc[dup, ['task', 'metric', 'method']].values.tolist()
        raise ValueError(f'{path}: duplicated (task, metric, method): {rows}')
    return refs


def reference_keys(refs: pd.DataFrame) -> set:
    """All reference keys (the ``method`` column)."""
    return set(refs['method'])


def lookup(refs: pd.DataFrame, task: str, metric: str,
           key: Optional[str]) -> Optional[Dict]:
    """The published number for one method on one task and metric.

    Args:
        refs (pd.DataFrame): :func:`load_references` output.
        task (str): Task key, e.g. ``'gta2cs'``.
        metric (str): e.g. ``'mIoU19'``.
        key (str, optional): Reference key; None gives None.

    Returns:
        dict | None: ``value``, ``variant``, ``backbone``, ``source``.
    """
    if key is None:
        return None
    hit = refs[(refs['task'] == task) & (refs['metric'] == metric)
               & (refs['method'] == key)]
    if hit.empty:
        return None
    row = hit.iloc[0]
    return dict(value=float(row['value']), variant=row['variant'],
                backbone=row['backbone'], source=row['source'])
