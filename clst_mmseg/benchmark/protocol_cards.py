"""Protocol cards: per method, every protocol fact with the paper's value
and source beside this project's value and the config key that holds it.

A card is a YAML file in ``configs/_base_/protocols/`` (see
``docs/protocols/README.md`` for the rendered cards)::

    method: AdaptSegNet
    summary: one paragraph
    configs: {gta2cs: configs/adaptsegnet/gta2cs.py, ...}
    facts:
      - fact: source flip
        paper: none (--random-mirror off by default)
        source: wasidennis/AdaptSegNet train_gta2cityscapes_multi.py
        status: same            # same | differs | not stated
        key: train_dataloader.dataset.source.pipeline.type=RandomFlip
        project: <absent>       # or project_by_config: {gta2cs: ...}
        note: why it differs / what is assumed

``key`` is a dotted path into the resolved config; a segment ``type=X``
picks the first list element whose ``type`` is ``X``; an integer segment
indexes a list. ``project`` is compared with the value there: a mapping
checks only the keys it lists, ``<absent>`` means nothing is there. Facts
without a config key (``key: null``) are stated, not checked.
:func:`check_card` holds a card to its configs; :func:`render_card` writes
its Markdown.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from .identity import resolve_config
from .references import lookup

#: Where the cards live, relative to the repository root.
CARDS_DIR = osp.join('configs', '_base_', 'protocols')
#: Where their rendering goes.
DOCS_DIR = osp.join('docs', 'protocols')
ABSENT = '<absent>'
STATUSES = ('same', 'differs', 'not stated', 'not applicable')
_FACT_KEYS = {'fact', 'paper', 'source', 'status', 'key', 'project',
              'project_by_config', 'note'}
_CARD_KEYS = {'method', 'summary', 'configs', 'facts'}


class CardError(ValueError):
    """A card that cannot be read or does not match its configs."""


def load_card(path: str) -> Dict:
    """Read and validate the structure of one card.

    Raises:
        CardError: One line naming the file (and fact) and the problem.
    """
    import yaml
    with open(path) as f:
        card = yaml.safe_load(f)
    name = osp.basename(path)
    if not isinstance(card, dict) or not _CARD_KEYS <= set(card) or set(
            card) - _CARD_KEYS:
        raise CardError(f'{name}: expected the keys {sorted(_CARD_KEYS)}')
    if not isinstance(card['configs'], dict) or not card['configs']:
        raise CardError(f'{name}: configs must map names to config files')
    for i, fact in enumerate(card['facts']):
        where = f'{name}: facts[{i}]'
        if not isinstance(fact, dict) or set(fact) - _FACT_KEYS:
            raise CardError(f'{where}: unknown keys '
                            f'{sorted(set(fact) - _FACT_KEYS)}')
        for k in ('fact', 'paper', 'source', 'status'):
            if not fact.get(k):
                raise CardError(f'{where}: {k} is required')
        if fact['status'] not in STATUSES:
            raise CardError(f'{where} ({fact["fact"]}): status must be one '
                            f'of {STATUSES}, got {fact["status"]!r}')
        if fact['status'] == 'differs' and not fact.get('note'):
            raise CardError(f'{where} ({fact["fact"]}): a difference needs '
                            'a note saying why')
        has = ('project' in fact) + ('project_by_config' in fact)
        if has != 1:
            raise CardError(f'{where} ({fact["fact"]}): give exactly one of '
                            'project, project_by_config')
        by = fact.get('project_by_config')
        if by is not None and set(by) != set(card['configs']):
            raise CardError(f'{where} ({fact["fact"]}): project_by_config '
                            f'names {sorted(by)}, the card\'s configs are '
                            f'{sorted(card["configs"])}')
    card['file'] = name
    return card


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def resolve_key(cfg: Dict, key: str) -> Any:
    """The value at a card key path, or :data:`ABSENT`."""
    node: Any = cfg
    for part in key.split('.'):
        if isinstance(node, list):
            if '=' in part:
                field, want = part.split('=', 1)
                node = next((x for x in node if isinstance(x, dict)
                             and str(x.get(field)) == want), ABSENT)
            elif part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return ABSENT
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return ABSENT
        if node is ABSENT:
            return ABSENT
    return _plain(node)


def _matches(want: Any, got: Any) -> bool:
    if isinstance(want, dict) and isinstance(got, dict):
        return all(k in got and _matches(v, got[k]) for k, v in want.items())
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(
            _matches(a, b) for a, b in zip(want, got))
    if isinstance(want, (int, float)) and isinstance(got, (int, float)) \
            and not isinstance(want, bool) and not isinstance(got, bool):
        return float(want) == float(got)
    return want == got


def project_value(fact: Dict, config_name: str) -> Any:
    """The card's "this project" value of a fact for one of its configs."""
    if 'project_by_config' in fact:
        return fact['project_by_config'][config_name]
    return fact['project']


def check_card(card: Dict, root: str = '.') -> List[str]:
    """Hold a card to its configs.

    Args:
        card (dict): :func:`load_card` output.
        root (str): Repository root (config paths are relative to it).

    Returns:
        list[str]: One line per mismatch (empty: the card holds).
    """
    problems = []
    for name, path in card['configs'].items():
        cfg = resolve_config(osp.join(root, path))
        for fact in card['facts']:
            if not fact.get('key'):
                continue
            want = project_value(fact, name)
            got = resolve_key(cfg, fact['key'])
            if not _matches(want, got):
                problems.append(
                    f'{card["file"]}: {fact["fact"]} ({name}): the card says '
                    f'{want!r}, {path} has {fact["key"]} = {got!r}')
    return problems


def _fmt(value: Any, top: bool = True) -> str:
    """Readable text of a config value (pipelines as ``A → B(k=v)``)."""
    if value == ABSENT:
        return 'none (not in the pipeline)'
    if isinstance(value, dict):
        items = {k: v for k, v in value.items() if k != 'type'}
        inner = ', '.join(f'{k}={_fmt(v, False)}' for k, v in items.items())
        if 'type' in value:
            return f'{value["type"]}({inner})' if inner else value['type']
        return inner if top else '{' + inner + '}'
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and 'type' in v
                         for v in value):
            return ' → '.join(_fmt(v, False) for v in value)
        return '(' + ', '.join(_fmt(v, False) for v in value) + ')'
    return str(value)


def _cell(text: Any) -> str:
    return ' '.join(str(text).split()).replace('|', '\\|')


def _project_cell(card: Dict, fact: Dict) -> str:
    if 'project' in fact:
        return _fmt(fact['project'])
    values = fact['project_by_config']
    distinct = {repr(v) for v in values.values()}
    if len(distinct) == 1:
        return _fmt(next(iter(values.values())))
    return '; '.join(f'{name}: {_fmt(v)}' for name, v in values.items())


def config_task(path: str, tasks) -> Optional[str]:
    """The task a config file trains: its file name is the task key, or the
    task key and a variant (``configs/<method>/<task>[_<variant>].py``).

    Args:
        path (str): Config path.
        tasks (Iterable[str]): Known task keys.

    Returns:
        str | None: The longest task key the file stem is or starts with
        (followed by ``_``), None if none.
    """
    stem = osp.splitext(osp.basename(path))[0]
    hits = [t for t in tasks if stem == t or stem.startswith(t + '_')]
    return max(hits, key=len) if hits else None


def reference_lines(card: Dict, refs, root: str = '.') -> List[str]:
    """The published numbers of the variants the card's configs declare."""
    out = []
    for name, path in card['configs'].items():
        cfg = resolve_config(osp.join(root, path))
        key = cfg.get('reference_key', ABSENT)
        if key is ABSENT:
            out.append(f'- `{path}`: declares no `reference_key` (the '
                       'suite entry chooses)')
            continue
        if key is None:
            out.append(f'- `{path}`: no published number for this variant')
            continue
        task = config_task(path, set(refs['task']))
        if task is None:  # a task without published numbers
            task = osp.splitext(osp.basename(path))[0].split('_')[0]
        hits = [(m, lookup(refs, task, m, key))
                for m in ('mIoU19', 'mIoU16', 'mIoU13')]
        hits = [(m, h) for m, h in hits if h]
        if not hits:
            out.append(f'- `{path}`: `{key}` has no {task} number in the '
                       'reference file (no comparable reference)')
            continue
        values = ', '.join(f'{h["value"]:g} {m}' for m, h in hits)
        out.append(f'- `{path}`: `{key}` = {values} ({hits[0][1]["source"]})')
    return out


def render_card(card: Dict, refs=None, root: str = '.') -> str:
    """The card as Markdown."""
    lines = [f'# Protocol card: {card["method"]}', '',
             ' '.join(str(card['summary']).split()), '',
             'Configs: ' + ', '.join(f'`{p}`'
                                     for p in card['configs'].values()), '',
             f'Generated from `{CARDS_DIR}/{card["file"]}` by '
             '`python tools/render_protocol_cards.py`; '
             '`tests/test_protocol_cards.py` holds the "this project" '
             'column to the resolved configs.', '',
             '| Fact | Paper | Source | Status | This project | Config key '
             '| Note |', '|---|---|---|---|---|---|---|']
    for fact in card['facts']:
        lines.append('| ' + ' | '.join([
            _cell(fact['fact']), _cell(fact['paper']), _cell(fact['source']),
            _cell(fact['status']), _cell(_project_cell(card, fact)),
            _cell(f'`{fact["key"]}`' if fact.get('key') else '–'),
            _cell(fact.get('note', ''))
        ]) + ' |')
    if refs is not None:
        lines += ['', '## Published numbers these configs are compared '
                  'with', ''] + reference_lines(card, refs, root)
    return '\n'.join(lines) + '\n'


def card_paths(root: str = '.') -> List[str]:
    """Every card file, sorted."""
    folder = osp.join(root, CARDS_DIR)
    import os
    return sorted(osp.join(folder, f) for f in os.listdir(folder)
                  if f.endswith('.yaml'))


def render_index(cards: List[Dict]) -> str:
    """``docs/protocols/README.md``: one line per card."""
    lines = ['# Protocol cards', '',
             'What each method\'s paper did and what this project runs, fact '
             'by fact, with the config key that holds each fact. Generated '
             'by `python tools/render_protocol_cards.py` from '
             f'`{CARDS_DIR}/*.yaml`; `tests/test_protocol_cards.py` fails '
             'when a card and its configs disagree.', '',
             'Shared decisions (every paper-scale config): the 40k-iteration '
             'schedule instead of each paper\'s own length (equal compute '
             'for every method; see each card), the last iterate as the '
             'headline of the leaderboard, with the paper\'s checkpoint '
             'selection shown beside it where the paper chose on target val '
             '(oracle selection).', '',
             '| Card | Method | Configs |', '|---|---|---|']
    for card in cards:
        stem = osp.splitext(card['file'])[0]
        lines.append(f'| [{stem}]({stem}.md) | {_cell(card["method"])} | '
                     + ', '.join(f'`{p}`' for p in card['configs'].values())
                     + ' |')
    return '\n'.join(lines) + '\n'


def rendered_docs(root: str = '.', refs=None) -> Dict[str, str]:
    """Path (relative to ``root``) -> text of every rendered document."""
    cards = [load_card(p) for p in card_paths(root)]
    out = {osp.join(DOCS_DIR, 'README.md'): render_index(cards)}
    for card in cards:
        stem = osp.splitext(card['file'])[0]
        out[osp.join(DOCS_DIR, f'{stem}.md')] = render_card(card, refs, root)
    return out


def cards_link_line(out_dir: str, root: str) -> Optional[str]:
    """A leaderboard footer line linking the cards from ``out_dir``."""
    index = osp.join(root, DOCS_DIR, 'README.md')
    if not osp.isfile(index):
        return None
    rel = osp.relpath(index, out_dir)
    return (f'Protocols (paper vs this project, per method): [{rel}]({rel})')


def covered_configs(cards: List[Dict]) -> Dict[str, Tuple[str, str]]:
    """Config path -> (card file, config name) over all cards."""
    return {path: (card['file'], name) for card in cards
            for name, path in card['configs'].items()}


def _size(value: Any) -> str:
    return 'x'.join(str(v) for v in value) if isinstance(value, list) else \
        str(value)


def _pipeline_summary(pipeline: Any) -> str:
    """``1280x720,crop512x512,flip0.5`` of a training pipeline."""
    if not isinstance(pipeline, list):
        return '?'
    parts = []
    for t in pipeline:
        kind = t.get('type') if isinstance(t, dict) else None
        if kind in ('Resize', 'RandomResize'):
            scale = _size(t.get('scale'))
            parts.append(scale if kind == 'Resize' else
                         f'{scale}*{_size(t.get("ratio_range"))}')
        elif kind and 'Crop' in kind:
            crop = t.get('crop_size')
            parts.append('crop' + ('x'.join(str(v) for v in crop[::-1])
                                   if isinstance(crop, list) else str(crop)))
        elif kind == 'RandomFlip':
            parts.append(f'flip{t.get("prob")}')
    if not any(p.startswith('flip') for p in parts):
        parts.append('noflip')
    return ','.join(parts)


def protocol_summary(resolved: Dict,
                     reference: Optional[str] = None) -> str:
    """One line of a run's protocol, for ``tools/benchmark.py --dry-run``.

    Args:
        resolved (dict): The run's resolved config (plain or the records'
            canonical form).
        reference (str, optional): The suite entry's reference key, used
            when the config declares no ``reference_key``.

    Returns:
        str: e.g. ``R101/caffe BN-train ASPP:first_two init:<file>
        src:1280x720,crop512x512,noflip tgt:... [rcs:T0.01] batch:2
        iters:40000
        SGD(lr=0.00025) val:5000,labels1024x512 test:1024x512 ref:dacs``
        (sizes as width x height; ``test:full``: the whole image).
    """
    from .initialisation import _plain, pretrained_entries
    cfg = _plain(resolved)
    seg = resolve_key(cfg, 'model.segmentor')
    seg = seg if isinstance(seg, dict) else {}
    backbone = seg.get('backbone') or {}
    parts = []
    depth = backbone.get('depth')
    parts.append(f'{backbone.get("type", "?")}{depth or ""}/'
                 f'{backbone.get("style", "pytorch")}')
    parts.append('BN-eval' if backbone.get('norm_eval') else 'BN-train')
    head = seg.get('decode_head') or {}
    if head.get('type') == 'DeepLabV2Head':
        parts.append(f'ASPP:{head.get("branch_mode", "sum_all")}')
    inits = [osp.basename(e['checkpoint'])
             for _, e in pretrained_entries(cfg.get('model') or {})]
    parts.append('init:' + (','.join(inits) if inits else 'random'))
    data = resolve_key(cfg, 'train_dataloader')
    data = data if isinstance(data, dict) else {}
    dataset = data.get('dataset') or {}
    if 'source' in dataset:
        parts.append('src:' + _pipeline_summary(
            (dataset.get('source') or {}).get('pipeline')))
        parts.append('tgt:' + _pipeline_summary(
            (dataset.get('target') or {}).get('pipeline')))
        rcs = dataset.get('rare_class_sampling')
        if isinstance(rcs, dict):
            parts.append(f'rcs:T{rcs.get("class_temp")}')
    parts.append(f'batch:{data.get("batch_size")}')
    parts.append(f'iters:{resolve_key(cfg, "train_cfg.max_iters")}')
    opt = resolve_key(cfg, 'optim_wrapper.optimizer')
    if isinstance(opt, dict):
        parts.append(f'{opt.get("type")}(lr={opt.get("lr")})')
    val = f'val:{resolve_key(cfg, "train_cfg.val_interval")}'
    labels = resolve_key(
        cfg, 'val_dataloader.dataset.pipeline.type=ResizeLabelsForEval.scale')
    if labels != ABSENT:
        val += f',labels{_size(labels)}'
    parts.append(val)
    test = resolve_key(cfg,
                       'test_dataloader.dataset.pipeline.type=Resize.scale')
    parts.append('test:' + ('full' if test == ABSENT else _size(test)))
    ref = cfg.get('reference_key', ABSENT)
    if ref is ABSENT:
        ref = reference
    parts.append('ref:' + ('-' if ref is None else str(ref)))
    return ' '.join(parts)
