"""Validation of result records against ``record_schema.json``.

The schema is standard JSON Schema; this module implements the keywords
it uses (``type``, ``enum``, ``const``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``minimum``, ``minLength``,
``minProperties``, ``if``/``then``), because the ``jsonschema`` package
needs a compiled dependency (``rpds-py``) that the project does not
otherwise install.
"""
import json
import numbers
import os.path as osp
from functools import lru_cache
from typing import Any, Dict, Iterator, Optional

SCHEMA_PATH = osp.join(osp.dirname(osp.abspath(__file__)),
                       'record_schema.json')

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
    return None
