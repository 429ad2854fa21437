"""Validation of result records: against ``record_schema.json`` (form)
and by meaning.

The schema is standard JSON Schema; this module implements the keywords
it uses (``type``, ``enum``, ``const``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``minimum``, ``minLength``,
``minProperties``, ``if``/``then``), because the ``jsonschema`` package
needs a compiled dependency (``rpds-py``) that the project does not
otherwise install.

By meaning (:func:`meaning_problem`): the run id is
``<task>-<method>-<hash10>-s<seed>`` of the record's own fields, its
``config_hash`` is the hash of its own ``resolved_config`` and its
``cfg_options`` set the same seed; every metric is a finite percentage
(``[0, 100]``; a class absent from the val set has a null IoU); ``mIoU`` is
the mean of the per-class IoU and each class-subset metric the mean over
its subset (the evaluator's ``class_subsets`` in the resolved config, named
ones from ``datasets/class_subsets.csv``), to the 2-decimal rounding of
the values; a finished run has per-class IoU; a code fingerprint's
``sha256`` is the combined hash of its files' hashes, each 64 hex digits.
"""
import csv
import json
import math
import numbers
import os.path as osp
from functools import lru_cache
from typing import Any, Dict, Iterator, List, Optional

from clst_mmseg.code_fingerprint import fingerprint_problem

from .identity import config_hash, from_canonical, make_run_id

SCHEMA_PATH = osp.join(osp.dirname(osp.abspath(__file__)),
                       'record_schema.json')
#: The named class subsets (``class_subsets=['mIoU16']``): data shared with
#: ``clst_mmseg/datasets/cityscapes_labels.py``, read without importing it.
CLASS_SUBSETS_CSV = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                             'datasets', 'class_subsets.csv')
#: How far a recorded mean of IoU may be from the mean of the recorded
#: per-class IoU: both are rounded to 2 decimals, each by up to 0.005.
MEAN_TOLERANCE = 0.01 + 1e-9
#: Metrics of mmseg's IoUMetric that are not means of IoU (checked for
#: range only).
_OTHER_METRICS = ('aAcc', 'mAcc', 'mDice', 'mFscore', 'mPrecision',
                  'mRecall')

_TYPES = {
    'object': lambda v: isinstance(v, dict),
    'array': lambda v: isinstance(v, list),
    'string': lambda v: isinstance(v, str),
    'boolean': lambda v: isinstance(v, bool),
    'null': lambda v: v is None,
    'integer': lambda v: isinstance(v, int) and not isinstance(v, bool),
    'number': lambda v: isinstance(v, numbers.Real) and not isinstance(
        v, bool),
}


@lru_cache(maxsize=None)
def record_schema() -> Dict:
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def _json_type(value: Any) -> str:
    return next((k for k in ('null', 'boolean', 'integer', 'number',
                             'string', 'array', 'object')
                 if _TYPES[k](value)), type(value).__name__)


def _where(path: str) -> str:
    return path or 'the record'


def _errors(value: Any, schema: Dict, path: str) -> Iterator[str]:
    if 'const' in schema and value != schema['const']:
        yield f'{_where(path)}: expected {schema["const"]!r}, got {value!r}'
        return
    if 'enum' in schema and value not in schema['enum']:
        yield f'{_where(path)}: {value!r} is not one of {schema["enum"]}'
        return
    if 'type' in schema:
        kinds = schema['type'] if isinstance(schema['type'], list) \
            else [schema['type']]
        if not any(_TYPES[k](value) for k in kinds):
            shown = '' if value is None else \
                ' ' + json.dumps(value, default=str)[:40]
            yield (f'{_where(path)}: expected {" or ".join(kinds)}, got '
                   f'{_json_type(value)}{shown}')
            return
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and \
            'minimum' in schema and value < schema['minimum']:
        yield f'{_where(path)}: {value!r} < {schema["minimum"]}'
    if isinstance(value, str) and len(value) < schema.get('minLength', 0):
        yield f'{_where(path)}: empty string'
    if isinstance(value, dict):
        if len(value) < schema.get('minProperties', 0):
            yield f'{_where(path)}: empty'
        for key in schema.get('required', []):
            if key not in value:
                yield f'{_where(path)}: missing key {key!r}'
        props = schema.get('properties', {})
        extra = schema.get('additionalProperties')
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from _errors(item, sub, f'{path}.{key}' if path
                                   else key)
    if isinstance(value, list) and 'items' in schema:
        for i, item in enumerate(value):
            yield from _errors(item, schema['items'], f'{path}[{i}]')
    if 'if' in schema and not any(True for _ in _errors(value, schema['if'],
                                                         path)):
        yield from _errors(value, schema.get('then', {}), path)


def record_problem(record: Any, task: Optional[str] = None,
                   run_id: Optional[str] = None) -> Optional[str]:
    """Why ``record`` is not a valid result record, or None.

    Args:
        record: The parsed JSON.
        task (str, optional): The task folder it was read from.
        run_id (str, optional): The run id its file name says.

    Returns:
        str | None: The first problem, one line.
    """
    problem = next(_errors(record, record_schema(), ''), None)
    if problem is not None:
        return problem
    if task is not None and record['task'] != task:
        return f'task {record["task"]!r} but it is in the folder of {task!r}'
    if run_id is not None and record['run_id'] != run_id:
        return f'run_id {record["run_id"]!r} but the file is {run_id}.json'
    return meaning_problem(record)


def meaning_problem(record: Dict) -> Optional[str]:
    """Why a record that matches the schema cannot be what it says (see
    the module docstring), or None.

    Args:
        record (dict): A record that matches ``record_schema.json``.

    Returns:
        str | None: The first problem, one line.
    """
    return _identity_problem(record) or _code_problem(record) or \
        _value_problem(record) or _mean_problem(record)


def _code_problem(record: Dict) -> Optional[str]:
    if record.get('code') is None:
        return None
    problem = fingerprint_problem(record['code'])
    return f'code: {problem}' if problem else None


def _identity_problem(record: Dict) -> Optional[str]:
    actual = config_hash(record['resolved_config'])
    if record['config_hash'] != actual:
        return (f'config_hash {record["config_hash"][:10]}... is not the '
                f'hash of its resolved_config ({actual[:10]}...)')
    expected = make_run_id(record['task'], record['method'],
                           record['config_hash'], record['seed'])
    if record['run_id'] != expected:
        return (f'run_id {record["run_id"]!r} does not match its task, '
                f'method, config hash and seed ({expected})')
    seeds = [o.split('=', 1)[1] for o in record.get('cfg_options') or []
             if o.startswith('randomness.seed=')]
    if seeds and seeds[-1] != str(record['seed']):
        return (f'seed {record["seed"]} but its cfg_options set '
                f'randomness.seed={seeds[-1]}')
    return None


def _percent_problem(where: str, value: Any) -> Optional[str]:
    """A number that is not a finite percentage (null is checked by the
    caller)."""
    if value is not None and not (math.isfinite(value)
                                  and 0 <= value <= 100):
        return f'{where}: {value!r} is not a percentage in [0, 100]'
    return None


def _value_problem(record: Dict) -> Optional[str]:
    for key, value in (record['per_class_iou'] or {}).items():
        problem = _percent_problem(f'per_class_iou.{key}', value)
        if problem:
            return problem
    for key, value in (record['metrics'] or {}).items():
        if value is None and not key.startswith('mIoU'):
            return f'metrics.{key}: null (only a mean of IoU over classes ' \
                'that are all absent from the val set may be null)'
        problem = _percent_problem(f'metrics.{key}', value)
        if problem:
            return problem
    points = [(f'curve[{i}]', p) for i, p in enumerate(
        record.get('curve') or [])] + [
            (f'trajectory[{i}].metrics', p['metrics'])
            for i, p in enumerate(record.get('trajectory') or [])]
    for where, point in points:
        for key, value in point.items():
            if key in ('step', 'iter'):
                continue
            if value is not None and not isinstance(value, numbers.Real):
                return f'{where}.{key}: expected a number, got {value!r}'
            problem = _percent_problem(f'{where}.{key}', value)
            if problem:
                return problem
    return None


@lru_cache(maxsize=None)
def named_class_subsets() -> Dict[str, List[str]]:
    """The predefined subsets (``datasets/class_subsets.csv``)."""
    with open(CLASS_SUBSETS_CSV, newline='') as f:
        rows = list(csv.DictReader(ln for ln in f if not ln.startswith('#')))
    subsets: Dict[str, List[str]] = {}
    for row in rows:
        subsets.setdefault(row['subset'], []).append(row['class'])
    return subsets


def class_subsets(record: Dict) -> Dict[str, List[str]]:
    """Subset metric key -> class names, from the ``class_subsets`` of the
    evaluator that scored the record's checkpoint (``test_evaluator`` when
    ``tools/test.py`` did, else ``val_evaluator``).

    Raises:
        ValueError: A named subset that ``datasets/class_subsets.csv``
            lacks.
    """
    cfg = record.get('resolved_config') or {}
    by_test = (record.get('checkpoint') or {}).get('evaluated_by') == \
        'tools/test.py'
    evaluators = from_canonical(cfg.get('test_evaluator' if by_test else
                                'val_evaluator'))
    if not isinstance(evaluators, list):
        evaluators = [evaluators]
    out: Dict[str, List[str]] = {}
    for evaluator in evaluators:
        subsets = (evaluator or {}).get('class_subsets') \
            if isinstance(evaluator, dict) else None
        if isinstance(subsets, list):
            unknown = [k for k in subsets if k not in named_class_subsets()]
            if unknown:
                raise ValueError(f'class_subsets {unknown} are not in '
                                 f'{CLASS_SUBSETS_CSV}')
            subsets = {k: named_class_subsets()[k] for k in subsets}
        out.update(subsets or {})
    return out


def _nanmean(values: List[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _mean_problem(record: Dict) -> Optional[str]:
    per_class = record['per_class_iou'] or {}
    metrics = record['metrics'] or {}
    if record['status'] == 'finished' and not per_class:
        return ('finished without per-class IoU: its mIoU cannot be checked '
                "(the evaluator must report 'IoU.<class>', as "
                'SubsetIoUMetric does)')
    if not per_class:
        return None
    try:
        subsets = class_subsets(record)
    except ValueError as e:
        return str(e)
    subsets['mIoU'] = list(per_class)
    for key, value in metrics.items():
        if key in _OTHER_METRICS:
            continue
        if key not in subsets:
            if key.startswith('mIoU'):
                return (f'metrics.{key}: no class subset of that name in '
                        "its evaluator's class_subsets")
            continue
        missing = [c for c in subsets[key] if c not in per_class]
        if missing:
            return f'metrics.{key}: no per-class IoU of {missing}'
        mean = _nanmean([per_class[c] for c in subsets[key]])
        if (mean is None) != (value is None) or (
                mean is not None and abs(mean - value) > MEAN_TOLERANCE):
            shown = 'null' if mean is None else f'{mean:.4f}'
            return (f'metrics.{key} = {value} but the mean IoU of its '
                    f'{len(subsets[key])} classes is {shown}')
    return None
