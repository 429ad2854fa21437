"""Suite files: tasks x methods x seeds (+ ablations) -> run specs.

A suite is an mmengine config file (see ``configs/benchmarks/``). Every
problem (unknown key, method or task, missing config, duplicate entry, an
override that cannot reach ``tools/train.py``, a config that does not load)
raises :class:`SuiteError` with one line naming the suite file, before
anything runs.
"""
import fnmatch
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .identity import config_hash, hashed_config, make_run_id, resolve_config
from .overrides import OverrideError, flatten, to_cli
from .references import DEFAULT_PATH as DEFAULT_REFERENCES
from .references import load_references, reference_keys
from .spec import RunSpec

#: Repository root (tools/ and configs/ live there).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Folders of the configs root that are not methods.
NOT_METHODS = ('_base_', 'benchmarks')

#: Every key a suite file may set, with its default.
DEFAULTS: Dict[str, Any] = dict(
    tasks=None,  # required: list of task keys (configs/<method>/<task>.py)
    methods=None,  # required: names, or dict(name, reference, title, config)
    seeds=None,  # list of ints; or num_seeds (one of the two is required)
    num_seeds=None,  # N: seeds 0 .. N-1 (e.g. to size a study)
    # where a method's config for a task is ({configs_root}, {method},
    # {task}); e.g. 'my_tasks/{task}/{method}.py' keeps a new task's
    # configs in one folder instead of one file per method folder
    config_pattern='{configs_root}/{method}/{task}.py',
    overrides={},  # --cfg-options for every run (dotted keys or dicts)
    task_overrides={},  # task -> overrides for that task's runs only
    method_overrides={},  # method -> overrides for that method's runs only
    ablations=None,  # dict(method='clst', dir='configs/clst/ablations',
    #                      task='mini')
    checkpoint='last',  # or 'best' (best on target val = oracle selection)
    device='auto',  # 'cpu' hides GPUs from the runs; 'cuda' / 'auto'
    gpus_per_run=1,  # > 1: torchrun with that many processes
    cpu_jobs=1,  # CPU runs at once (each gets cores // cpu_jobs threads)
    results_dir='results',  # records: <results_dir>/<task>/records/
    work_dir='work_dirs/benchmark',  # run dirs: <work_dir>/<task>/<run_id>
    configs_root='configs',
    report_name='leaderboard',  # <results_dir>/<task>/<report_name>.md ...
    baselines=['source_only'],  # context rows on top; compared against
    upper_bounds=['oracle'],  # context rows at the bottom
    comparisons=None,  # [(a, b), ...]; None: each method vs the baseline
    task_titles={},
    method_titles={},
    slurm={},  # submitit AutoExecutor parameters
    # GPU memory (GiB) of each device a run gets, for the pre-flight:
    # None queries the local GPUs (nvidia-smi); under Slurm the request
    # does not say it, so set it to what the partition's GPUs have
    gpu_memory_gib=None,
    train_script=None,  # None: <repo>/tools/train.py
    test_script=None,  # None: <repo>/tools/test.py
    references=None,  # None: clst_mmseg/benchmark/reference_numbers.csv
    # True: the tasks are small CPU tasks; every report says beside its
    # tables what such a leaderboard can and cannot support
    cpu_tasks=False,
)
_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')


class SuiteError(ValueError):
    """A suite file that cannot be run."""


@dataclass
class MethodEntry:
    """A row of the leaderboard: a method key and where its configs are.

    Args:
        name (str): Method key.
        title (str): Display name.
        config (str): Path template with ``{task}``.
        reference (str, optional): Reference key in the reference table.
        tasks (tuple, optional): Restrict to these tasks (ablations).
        ablation_of (str, optional): Base method of an ablation.
    """
    name: str
    title: str
    config: str
    reference: Optional[str] = None
    tasks: Optional[Tuple[str, ...]] = None
    ablation_of: Optional[str] = None


@dataclass
class Suite:
    """A loaded, validated suite."""
    path: str
    tasks: List[str]
    methods: List[MethodEntry]
    seeds: List[int]
    runs: List[RunSpec]
    options: Dict[str, Any]
    results_dir: str
    work_dir: str
    report_name: str
    comparisons: List[Tuple[str, str]] = field(default_factory=list)

    def method(self, name: str) -> MethodEntry:
        return next(m for m in self.methods if m.name == name)

    def task_title(self, task: str) -> str:
        return self.options['task_titles'].get(task, task)


def _fail(path: str, msg: str) -> None:
    raise SuiteError(f'suite {path}: {msg}')


def _abs(path: str) -> str:
    return osp.abspath(osp.expanduser(path))


def _known_methods(root: str) -> List[str]:
    if not osp.isdir(root):
        return []
    return sorted(
        d for d in os.listdir(root)
        if d not in NOT_METHODS and osp.isdir(osp.join(root, d)) and any(
            f.endswith('.py') for f in os.listdir(osp.join(root, d))))


def _known_tasks(root: str) -> List[str]:
    tasks = set()
    for m in _known_methods(root):
        tasks.update(
            f[:-3] for f in os.listdir(osp.join(root, m))
            if f.endswith('.py') and osp.isfile(osp.join(root, m, f)))
    return sorted(tasks)


def _check_names(path: str, key: str, values: Any, kind: type) -> List:
    if not isinstance(values, (list, tuple)) or not values:
        _fail(path, f'{key} must be a non-empty list, got {values!r}')
    seen = set()
    for v in values:
        if not isinstance(v, kind) or isinstance(v, bool):
            _fail(path, f'{key}: expected {kind.__name__} entries, got '
                  f'{v!r}')
        if v in seen:
            _fail(path, f'duplicate {key[:-1]} {v!r} in {key}')
        seen.add(v)
    return list(values)


def _method_entries(path: str, opts: Dict, root: str,
                    titles: Dict[str, str]) -> List[MethodEntry]:
    methods = opts['methods']
    if not isinstance(methods, (list, tuple)) or not methods:
        _fail(path, f'methods must be a non-empty list, got {methods!r}')
    entries = []
    for item in methods:
        if isinstance(item, str):
            item = dict(name=item)
        if not isinstance(item, dict) or not isinstance(
                item.get('name'), str):
            _fail(path, 'methods: each entry is a method name or '
                  f'dict(name=..., reference=..., title=..., config=...), '
                  f'got {item!r}')
        extra = set(item) - {'name', 'reference', 'title', 'config'}
        if extra:
            _fail(path, f'methods: entry {item["name"]!r}: unknown key(s) '
                  f'{sorted(extra)}; allowed: name, reference, title, config')
        name = item['name']
        if not _NAME.match(name):
            _fail(path, f'methods: bad method name {name!r} (letters, digits,'
                  ' "_", "." and "-" only)')
        config = item.get('config')
        if config is None:
            pattern = opts['config_pattern']
            if pattern == DEFAULTS['config_pattern'] and (
                    not osp.isdir(osp.join(root, name))
                    or name in NOT_METHODS):
                _fail(path, f'unknown method {name!r} (no folder '
                      f'{osp.join(root, name)}/); known methods: '
                      f'{_known_methods(root)}')
            config = pattern.replace('{configs_root}', root).replace(
                '{method}', name)
        entries.append(
            MethodEntry(name=name, title=item.get('title')
                        or titles.get(name, name), config=config,
                        reference=item.get('reference', name)))
    return entries


def _ablation_entries(path: str, spec: Any, tasks: List[str],
                      titles: Dict[str, str]) -> List[MethodEntry]:
    if spec is None:
        return []
    if not isinstance(spec, dict) or set(spec) != {'method', 'dir', 'task'}:
        _fail(path, "ablations must be dict(method='clst', "
              f"dir='configs/clst/ablations', task='mini'), got {spec!r}")
    folder, task, base = spec['dir'], spec['task'], spec['method']
    if task not in tasks:
        _fail(path, f'ablations: task {task!r} is not in tasks {tasks}')
    if not osp.isdir(folder):
        _fail(path, f'ablations: no such folder {folder} (ablation configs '
              f'are {folder}/<name>.py)')
    names = sorted(f[:-3] for f in os.listdir(folder) if f.endswith('.py'))
    if not names:
        _fail(path, f'ablations: no <name>.py config in {folder}')
    base_title = titles.get(base, base)
    return [
        MethodEntry(name=f'{base}-{n}',
                    title=_display_name(path, osp.join(folder, f'{n}.py'))
                    or f'{base_title} ({n})',
                    config=osp.join(folder, f'{n}.py'), reference=None,
                    tasks=(task, ), ablation_of=base) for n in names
    ]


def _display_name(path: str, config: str) -> Optional[str]:
    """The ``display_name`` an ablation config gives its leaderboard row
    (None: the row is named after the file)."""
    try:
        name = Config.fromfile(config, import_custom_modules=False).get(
            'display_name')
    except Exception as e:
        _fail(path, f'ablation config {config} does not load: {e}')
    if name is not None and not isinstance(name, str):
        _fail(path, f'{config}: display_name must be a string, got '
              f'{name!r}')
    return name


def _comparisons(path: str, opts: Dict,
                 entries: List[MethodEntry]) -> List[Tuple[str, str]]:
    names = [m.name for m in entries]
    pairs = opts['comparisons']
    if pairs is None:
        base = next((b for b in opts['baselines'] if b in names), None)
        pairs = [(m.name, base) for m in entries
                 if base and m.name != base and m.ablation_of is None]
        pairs += [(m.name, m.ablation_of) for m in entries
                  if m.ablation_of in names]
        return pairs
    out = []
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            _fail(path, f'comparisons: expected (method, method) pairs, got '
                  f'{pair!r}')
        for name in pair:
            if name not in names:
                _fail(path, f'comparisons: {name!r} is not a method of the '
                      f'suite {names}')
        out.append(tuple(pair))
    return out


def _cli(path: str, what: str, overrides: Any) -> Dict[str, Any]:
    if not isinstance(overrides, dict):
        _fail(path, f'{what} must be a dict of dotted key -> value, got '
              f'{overrides!r}')
    try:
        flat = flatten(overrides)
        to_cli(flat)
    except OverrideError as e:
        _fail(path, f'{what}: {e}')
    return flat


def load_suite(path: str,
               extra_overrides: Optional[Dict[str, Any]] = None,
               **options: Any) -> Suite:
    """Read, validate and expand a suite file into run specs.

    Args:
        path (str): Suite file (an mmengine config).
        extra_overrides (dict, optional): Overrides added to every run
            (``tools/benchmark.py --cfg-options``).
        **options: Values that replace the file's keys (e.g.
            ``results_dir``, ``work_dir``, ``device``); None is ignored.

    Returns:
        Suite: The suite with one :class:`RunSpec` per (task, method, seed).

    Raises:
        SuiteError: On any problem, naming the suite file.
    """
    if not osp.isfile(path):
        raise SuiteError(f'suite file not found: {path}')
    try:
        raw = Config.fromfile(path, import_custom_modules=False).to_dict()
    except Exception as e:  # syntax errors, bad _base_ ...
        raise SuiteError(f'suite {path}: cannot read it: {e}') from e
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        _fail(path, f'unknown key(s) {unknown}; allowed: '
              f'{sorted(DEFAULTS)}')
    opts = {**DEFAULTS, **raw}
    opts.update({k: v for k, v in options.items() if v is not None})
    if opts['num_seeds'] is not None:
        n = opts['num_seeds']
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            _fail(path, f'num_seeds must be an int >= 1, got {n!r}')
        if options.get('num_seeds') is None and raw.get('seeds') is not None:
            _fail(path, 'set seeds or num_seeds, not both')
        opts['seeds'] = list(range(n))
    for key in ('tasks', 'methods', 'seeds'):
        if opts[key] is None:
            _fail(path, f'missing required key {key!r}' +
                  (' (or num_seeds)' if key == 'seeds' else ''))

    tasks = _check_names(path, 'tasks', opts['tasks'], str)
    seeds = _check_names(path, 'seeds', opts['seeds'], int)
    if opts['checkpoint'] not in ('last', 'best'):
        _fail(path, "checkpoint must be 'last' or 'best', got "
              f'{opts["checkpoint"]!r}')
    if not isinstance(opts['cpu_jobs'], int) or opts['cpu_jobs'] < 1:
        _fail(path, f"cpu_jobs must be an int >= 1, got {opts['cpu_jobs']!r}")
    if not isinstance(opts['cpu_tasks'], bool):
        _fail(path, f"cpu_tasks must be True or False, got "
              f"{opts['cpu_tasks']!r}")
    if opts['device'] not in ('cpu', 'cuda', 'auto'):
        _fail(path, "device must be 'cpu', 'cuda' or 'auto', got "
              f'{opts["device"]!r}')
    if not isinstance(opts['gpus_per_run'], int) or opts['gpus_per_run'] < 1:
        _fail(path, f'gpus_per_run must be an int >= 1, got '
              f'{opts["gpus_per_run"]!r}')
    mem = opts['gpu_memory_gib']
    if mem is not None and (isinstance(mem, bool) or
                            not isinstance(mem, (int, float)) or mem <= 0):
        _fail(path, f'gpu_memory_gib must be a number > 0 (GiB) or None, '
              f'got {mem!r}')
    for key in ('task_titles', 'method_titles', 'slurm', 'task_overrides',
                'method_overrides'):
        if not isinstance(opts[key], dict):
            _fail(path, f'{key} must be a dict, got {opts[key]!r}')
    if not isinstance(opts['config_pattern'], str) or '{task}' not in \
            opts['config_pattern']:
        _fail(path, "config_pattern must be a string with '{task}' (and "
              f"'{{method}}'), got {opts['config_pattern']!r}")

    root = opts['configs_root']
    if not osp.isdir(root):
        _fail(path, f'configs_root {root!r} is not a folder')
    if opts['config_pattern'] == DEFAULTS['config_pattern']:
        known_tasks = _known_tasks(root)
        for task in tasks:
            if task not in known_tasks:
                _fail(path, f'unknown task {task!r} (no {root}/<method>/'
                      f'{task}.py for any method); known tasks: '
                      f'{known_tasks}')
    for task in opts['task_overrides']:
        if task not in tasks:
            _fail(path, f'task_overrides: {task!r} is not in tasks {tasks}')

    titles = opts['method_titles']
    entries = _method_entries(path, opts, root, titles)
    entries += _ablation_entries(path, opts['ablations'], tasks, titles)
    seen = set()
    for m in entries:
        if m.name in seen:
            _fail(path, f'duplicate method {m.name!r} in methods/ablations')
        seen.add(m.name)
    for name in opts['method_overrides']:
        if name not in seen:
            _fail(path, f'method_overrides: {name!r} is not a method of the '
                  f'suite {sorted(seen)}')

    ref_path = opts['references'] or DEFAULT_REFERENCES
    try:
        keys = reference_keys(load_references(ref_path))
    except (OSError, ValueError) as e:
        _fail(path, f'references: {e}')
    for m in entries:
        if m.reference is not None and m.reference not in keys:
            if m.reference != m.name:  # named explicitly: must exist
                _fail(path, f'methods: {m.name!r}: reference key '
                      f'{m.reference!r} is not in {ref_path} '
                      f'(keys: {sorted(keys)})')
            m.reference = None

    base_overrides = _cli(path, 'overrides', opts['overrides'])
    if extra_overrides:
        base_overrides.update(
            _cli(path, '--cfg-options', dict(extra_overrides)))
    if opts['checkpoint'] == 'best':
        base_overrides.update({  # new keys of CheckpointHook's config
            '+default_hooks.checkpoint.save_best': 'mIoU',
            '+default_hooks.checkpoint.rule': 'greater'
        })
    train_script = _abs(opts['train_script']
                        or osp.join(REPO_ROOT, 'tools', 'train.py'))
    test_script = _abs(opts['test_script']
                       or osp.join(REPO_ROOT, 'tools', 'test.py'))
    for script in (train_script, test_script):
        if not osp.isfile(script):
            _fail(path, f'no such script {script}')
    results_dir = _abs(opts['results_dir'])
    work_root = _abs(opts['work_dir'])

    runs: List[RunSpec] = []
    for task in tasks:
        overrides = dict(base_overrides)
        overrides.update(
            _cli(path, f'task_overrides[{task!r}]',
                 opts['task_overrides'].get(task, {})))
        for m in entries:
            if m.tasks is not None and task not in m.tasks:
                continue
            config = m.config.format(task=task)
            if not osp.isfile(config):
                _fail(path, f'missing config {config} for method {m.name!r} '
                      f'on task {task!r}')
            run_overrides = dict(overrides)
            run_overrides.update(
                _cli(path, f'method_overrides[{m.name!r}]',
                     opts['method_overrides'].get(m.name, {})))
            try:
                resolved = resolve_config(config, run_overrides)
            except Exception as e:
                if 'not a key of the config' in str(e):
                    # a model.* key the method's model does not take: say so
                    # (and where to set it) rather than "not a key"
                    _check_model_overrides(path, m.name, config,
                                           resolve_config(config, {}),
                                           run_overrides)
                _fail(path, f'config {config} (with the suite overrides) does'
                      f' not load: {e}')
            _check_model_overrides(path, m.name, config, resolved,
                                   run_overrides)
            chash = config_hash(resolved)
            max_iters = (resolved.get('train_cfg') or {}).get('max_iters')
            for seed in seeds:
                run_id = make_run_id(task, m.name, chash, seed)
                cli = to_cli({**run_overrides, 'randomness.seed': seed})
                runs.append(
                    RunSpec(
                        run_id=run_id, task=task, method=m.name, seed=seed,
                        config=_abs(config), config_display=config,
                        config_hash=chash, cfg_options=cli,
                        overrides=dict(run_overrides),
                        resolved_config=hashed_config(resolved),
                        work_dir=osp.join(work_root, task, run_id),
                        results_dir=results_dir, train_script=train_script,
                        test_script=test_script, max_iters=max_iters,
                        checkpoint=opts['checkpoint'], device=opts['device'],
                        gpus_per_run=opts['gpus_per_run'], suite=path))
    ids = [r.run_id for r in runs]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        _fail(path, f'duplicate runs {dups}')
    return Suite(
        path=path, tasks=tasks, methods=entries, seeds=seeds, runs=runs,
        options=opts, results_dir=results_dir, work_dir=work_root,
        report_name=opts['report_name'],
        comparisons=_comparisons(path, opts, entries))


def _check_model_overrides(path: str, method: str, config: str,
                           resolved: Dict, overrides: Dict) -> None:
    """Stop when an override sets a ``model.*`` key that the model class
    of this method's config does not take (see :mod:`.model_args`), or a
    knob out of the range its class declares (``knob_ranges``)."""
    keys = [k.lstrip('+') for k in overrides
            if k.lstrip('+').startswith('model.')]
    if not keys:
        return
    from .model_args import unaccepted_keys
    bad = unaccepted_keys(resolved.get('model') or {}, keys)
    if bad:
        key, cls, _ = bad[0]
        _fail(path, f'override {key}: {cls} (the model of {config}, method '
              f'{method!r}) takes no {key.rsplit(".", 1)[1]!r}; set it only '
              f"for the methods that have it: method_overrides=dict(<method>"
              f"={{'{key}': ...}})")
    from clst_mmseg.apis.config_checks import check_knobs
    try:
        check_knobs(resolved)
    except ValueError as e:
        _fail(path, f'overrides of {config} (method {method!r}): {e}')


def _names(run: RunSpec) -> List[str]:
    return [
        run.task, run.method, f'{run.task}/{run.method}',
        f'{run.task}/{run.method}/s{run.seed}', run.run_id
    ]


def select(runs: Sequence[RunSpec], only: Sequence[str] = (),
           skip: Sequence[str] = ()) -> List[RunSpec]:
    """Filter runs by shell-style patterns (``--only`` / ``--skip``).

    A pattern matches a run when it matches its task, its method,
    ``task/method``, ``task/method/sSEED`` or its run id.

    Args:
        runs (list[RunSpec]): The suite's runs.
        only (list[str]): Keep runs matching any of these (all if empty).
        skip (list[str]): Then drop runs matching any of these.

    Returns:
        list[RunSpec]: The selected runs, in suite order.

    Raises:
        SuiteError: A pattern that matches no run.
    """
    def hits(pattern, run):
        return any(fnmatch.fnmatchcase(n, pattern) for n in _names(run))

    for flag, patterns in (('--only', only), ('--skip', skip)):
        for p in patterns:
            if not any(hits(p, r) for r in runs):
                raise SuiteError(
                    f'{flag} {p!r} matches no run of the suite (runs are '
                    'named task, method, task/method, task/method/sSEED or '
                    'by run id, e.g. mini/oracle/s0)')
    out = [r for r in runs if not only or any(hits(p, r) for p in only)]
    return [r for r in out if not any(hits(p, r) for p in skip)]
