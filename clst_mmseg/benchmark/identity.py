"""What identifies a run: the resolved config, its hash, the run id; and
the code that trained it.

The run id is made of the config (:func:`config_hash`). The code is not
part of it: a record keeps the fingerprint of the code that trained it
(``code``: the SHA-256 of every project source file the training imported,
see :mod:`clst_mmseg.code_fingerprint`), and a finished run whose files
have changed since, or whose record has no fingerprint (written before
records had one), is *stale* (:func:`stale_reason`): trained again by
default, or kept and marked in the tables (:func:`code_notes`). Data and
weights files are identified by the config too (their paths and sizes are
in the record's ``inputs``, not hashed).
"""
import hashlib
import json
import math
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from mmengine.config import Config

from clst_mmseg.apis.config_checks import check_values
from clst_mmseg.apis.schedule_length import merge_overrides
from clst_mmseg.code_fingerprint import changed_files

#: Keys that say where or how a run is launched, logged or loaded, not
#: what it trains (switching TensorBoard on keeps the finished runs).
_NOT_HASHED = ('work_dir', 'launcher', 'visualizer',
               'allow_checkpoint_mismatch')


def resolve_config(path: str,
                   overrides: Optional[Dict[str, Any]] = None) -> Dict:
    """Load a config and apply overrides as ``tools/train.py`` does
    (``Config.fromfile`` + checked ``merge_from_dict``: a key the config
    lacks must be written ``+key``; a changed ``max_iters`` moves the
    schedule ends with it), with the function the tool uses
    (:func:`~clst_mmseg.apis.schedule_length.merge_overrides`), without
    importing the modules it names, and check its values (``max_iters`` > 0
    ...).

    Args:
        path (str): Config file.
        overrides (dict, optional): Dotted key -> value.

    Returns:
        dict: The resolved config as plain Python data.

    Raises:
        ValueError: An override of a key the config lacks, or a value out
            of range (one line naming the key).
    """
    cfg = Config.fromfile(path, import_custom_modules=False)
    merge_overrides(cfg, overrides)
    resolved = cfg.to_dict()
    check_values(resolved)
    return resolved


def _canonical(value: Any) -> Any:
    """JSON-able form that keeps tuples apart from lists and non-finite
    floats apart from null (a record, strict JSON, keeps this form, so its
    config hashes as it did when it ran)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {'__float__': repr(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {'__tuple__': [_canonical(v) for v in value]}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {'__repr__': repr(value)}


def from_canonical(value: Any) -> Any:
    """A config in its canonical form (what records keep, see
    :func:`hashed_config`) as plain data again: tuples as lists, non-finite
    floats as floats."""
    if isinstance(value, dict):
        if set(value) == {'__tuple__'}:
            return [from_canonical(v) for v in value['__tuple__']]
        if set(value) == {'__float__'}:
            return float(value['__float__'])
        return {k: from_canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_canonical(v) for v in value]
    return value


def hashed_config(resolved: Dict) -> Dict:
    """The part of a resolved config that identifies what is trained: all
    of it but :data:`_NOT_HASHED` and the seed (seeds of one method
    share a configuration; the seed is part of the run id instead).

    Args:
        resolved (dict): Output of :func:`resolve_config`.

    Returns:
        dict: Canonical, JSON-able config.
    """
    cfg = {k: v for k, v in resolved.items() if k not in _NOT_HASHED}
    if isinstance(cfg.get('randomness'), dict):
        cfg['randomness'] = {
            k: v for k, v in cfg['randomness'].items() if k != 'seed'
        }
    return _canonical(cfg)


def config_hash(resolved: Dict) -> str:
    """SHA-256 of the canonical JSON text of :func:`hashed_config`.

    JSON with sorted keys rather than ``Config.pretty_text``: the hash must
    not change when yapf (which formats ``pretty_text``) is upgraded or when
    a config merely reorders keys; otherwise every finished run would be
    trained again.

    Args:
        resolved (dict): Output of :func:`resolve_config`.

    Returns:
        str: 64 hex digits.
    """
    text = json.dumps(hashed_config(resolved), sort_keys=True,
                      separators=(',', ':'), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def make_run_id(task: str, method: str, cfg_hash: str, seed: int) -> str:
    """Stable, file-name-safe run id, e.g. ``mini-oracle-1a2b3c4d5e-s0``.

    Args:
        task (str): Task key.
        method (str): Method key.
        cfg_hash (str): :func:`config_hash` of the run's config.
        seed (int): Random seed.

    Returns:
        str: The run id.
    """
    return f'{task}-{method}-{cfg_hash[:10]}-s{seed}'


#: Why a record without a code fingerprint is stale.
NO_FINGERPRINT = 'no code fingerprint'
#: Files named in a one-line reason; the rest are counted.
SHOWN_FILES = 3
#: How the tables mark a row whose runs did not all run the current code.
CODE_MARK = '§'


def files_text(files: Sequence[str]) -> str:
    """Up to :data:`SHOWN_FILES` names, then how many more."""
    shown = ', '.join(files[:SHOWN_FILES])
    more = len(files) - SHOWN_FILES
    return shown + (f' and {more} more' if more > 0 else '')


def stale_reason(record: Dict) -> Optional[str]:
    """Why the code that trained ``record`` is not the code as it is now
    (None: every file it imported is unchanged).

    Args:
        record (dict): A result record.

    Returns:
        str | None: ``'code changed: <files>'`` (files edited or gone since)
        or :data:`NO_FINGERPRINT` (a record written before records had
        one, or by a train script that wrote none).
    """
    code = record.get('code')
    if not code:
        return NO_FINGERPRINT
    changed = changed_files(code)
    return f'code changed: {files_text(changed)}' if changed else None


def _short(digest: Optional[str]) -> str:
    return digest[:10] if digest else 'none'


def code_notes(records: Sequence[Dict],
               titles: Dict[str, str]) -> Tuple[Set[str], List[str]]:
    """Which rows of a table do not rest on one, current code, and the
    footer lines that say why.

    A row (a method) is marked when one of its finished runs is stale
    (kept with ``--keep-stale``) or when its seeds ran different code
    fingerprints.

    Args:
        records (list[dict]): The table's records (unfinished ones are
            ignored).
        titles (dict): Method -> row title.

    Returns:
        tuple: ``(methods to mark, footer lines)``.
    """
    done = [r for r in records if r.get('status') == 'finished']
    marked: Set[str] = set()
    stale = []
    for rec in done:
        why = stale_reason(rec)
        if why:
            marked.add(rec['method'])
            stale.append(f'{rec["method"]}/s{rec["seed"]} ({why})')
    mixed = []
    for method in dict.fromkeys(r['method'] for r in done):
        runs = [r for r in done if r['method'] == method]
        by_code: Dict[str, List] = {}
        for rec in runs:
            code = rec.get('code') or {}
            by_code.setdefault(code.get('sha256'), []).append(rec)
        if len(by_code) < 2:
            continue
        marked.add(method)
        files = [r['code']['files'] for r in runs if r.get('code')]
        names = sorted({n for f in files for n in f})
        differ = [n for n in names if len({f.get(n) for f in files}) > 1]
        mixed.append(
            f'{titles.get(method, method)}: {len(by_code)} code fingerprints'
            ' (' + '; '.join(
                f'{_short(digest)}: ' + ', '.join(
                    f's{r["seed"]}' for r in sorted(recs,
                                                    key=lambda r: r['seed']))
                for digest, recs in sorted(by_code.items(),
                                           key=lambda kv: kv[0] or ''))
            + ')' + (f', differing in {files_text(differ)}' if differ
                     else ''))
    lines = []
    if stale:
        lines.append(f'{CODE_MARK} Trained by code that has changed since '
                     '(kept with --keep-stale; tools/benchmark.py without it '
                     'trains them again): ' + '; '.join(stale) + '.')
    if mixed:
        lines.append(f'{CODE_MARK} The seeds of a row ran different code: '
                     + '; '.join(mixed) + '.')
    if done and not lines:
        lines.append('Every run was trained by the code as it is now (the '
                     'fingerprint of the files it imported matches).')
    return marked, lines
