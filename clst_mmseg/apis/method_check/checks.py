"""The method checks of ``tools/check_method.py``: a config trained for a
few iterations, its runs compared with each other."""
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..config_checks import missing_key
from . import state as st
from .runs import RunResult, one_line, train, train_ddp

#: The hook that makes ``--resume`` continue the random streams.
RNG_HOOK = 'RNGStateHook'
#: The pseudo-label diagnostics, as the mini suites switch them on.
DIAGNOSTICS = dict(type='PseudoLabelDiagnosticsHook', interval=1,
                   per_class=False)


@dataclass
class CheckSettings:
    """The size of the runs.

    Args:
        iters (int): Training iterations of a run. Defaults to 4.
        resume_at (int, optional): Iteration the stopped run ends at and
            the resumed one starts from; None: ``iters // 2``.
        batch_size (int, optional): Training batch size; None keeps the
            config's. Defaults to 2.
        val_images (int, optional): Validation (and test) images; None
            keeps them all. Defaults to 8.
        target_images (int, optional): Target training images (what
            round-based labelling and per-image memories cover); None keeps
            them all. Defaults to 16.
        seed (int): Random seed. Defaults to 0.
        ddp (bool): Run the two-process check. Defaults to True.
        ddp_timeout_s (int): Seconds the two processes get. Defaults to
            300.
        verify_labels (int, optional): Label files checked per dataset by
            the data verification; None: all. Defaults to 20.
    """
    iters: int = 4
    resume_at: Optional[int] = None
    batch_size: Optional[int] = 2
    val_images: Optional[int] = 8
    target_images: Optional[int] = 16
    seed: int = 0
    ddp: bool = True
    ddp_timeout_s: int = 300
    verify_labels: Optional[int] = 20

    @property
    def k(self) -> int:
        return self.resume_at if self.resume_at is not None else \
            max(1, self.iters // 2)


@dataclass
class CheckResult:
    """One check's outcome.

    Args:
        name (str): The check.
        ok (bool, optional): Passed, failed, or None (not run).
        reason (str): Why, one line.
        fix (str): What to add (failed checks).
    """
    name: str
    ok: Optional[bool]
    reason: str
    fix: str = ''

    def lines(self) -> List[str]:
        """The printed lines: ``✓``/``✗``/``-``, the check, the reason; a
        failed check adds a line saying what to add."""
        mark = {True: '✓', False: '✗', None: '-'}[self.ok]
        out = [f'{mark} {self.name}: {self.reason}']
        if self.ok is False and self.fix:
            out.append(f'    add: {self.fix}')
        return out


# -- the short runs' config --------------------------------------------------
def _key(cfg: Dict, key: str) -> str:
    """``key``, or ``+key`` when the config lacks it (a new key)."""
    return key if missing_key(cfg, key) is None else f'+{key}'


def _scheduler_paths(schedulers: Any, prefix: str):
    """``(dotted path, scheduler dict)`` of a ``param_scheduler`` value: one
    scheduler, a list, or a dict of those per optimizer wrapper."""
    if isinstance(schedulers, dict) and 'type' in schedulers:
        yield prefix, schedulers
    elif isinstance(schedulers, dict):
        for name, value in schedulers.items():
            yield from _scheduler_paths(value, f'{prefix}.{name}')
    elif isinstance(schedulers, (list, tuple)):
        for i, value in enumerate(schedulers):
            yield from _scheduler_paths(value, f'{prefix}.{i}')


def _scaled_schedulers(cfg: Dict, iters: int) -> Dict[str, Any]:
    """Every iteration-based parameter scheduler's ``begin``/``end`` scaled
    from the config's ``max_iters`` to ``iters`` (a warm-up stays a
    warm-up, a decay still ends with the run)."""
    max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    out: Dict[str, Any] = {}
    if not max_iters:
        return out
    for path, sch in _scheduler_paths(cfg.get('param_scheduler'),
                                      'param_scheduler'):
        if sch.get('by_epoch', False):
            continue
        for bound in ('begin', 'end'):
            value = sch.get(bound)
            if isinstance(value, int) and not isinstance(value, bool):
                scaled = min(iters, round(value * iters / max_iters))
                out[f'{path}.{bound}'] = max(scaled, 1) if bound == 'end' \
                    else scaled
    return out


def short_run_options(cfg: Dict, settings: CheckSettings, iters: int,
                      val_interval: int, trajectory_points: int = 0,
                      checkpoint_interval: Optional[int] = None
                      ) -> Dict[str, Any]:
    """The ``--cfg-options`` that turn a config into a short run of its
    task: ``iters`` iterations with its schedulers scaled to them, a
    validation every ``val_interval``, a checkpoint every
    ``checkpoint_interval`` (all kept), a log line per iteration, and the
    batch size and image counts of ``settings``.

    Args:
        cfg (dict): The resolved config.
        settings (CheckSettings): Sizes.
        iters (int): Iterations.
        val_interval (int): Validation interval.
        trajectory_points (int): Trajectory points (0: off).
        checkpoint_interval (int, optional): None: only at the end.

    Returns:
        dict: Dotted key (``+`` for keys the config lacks) -> value.
    """
    out = {
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': val_interval,
        _key(cfg, 'trajectory_points'): trajectory_points,
        _key(cfg, 'default_hooks.checkpoint.interval'):
        checkpoint_interval or iters,
        _key(cfg, 'default_hooks.checkpoint.max_keep_ckpts'): -1,
        _key(cfg, 'default_hooks.logger.interval'): 1,
        _key(cfg, 'randomness.seed'): settings.seed,
    }
    out.update(_scaled_schedulers(cfg, iters))
    if settings.batch_size:
        out['train_dataloader.batch_size'] = settings.batch_size
    for loader in ('val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        # a file-list dataset (not a wrapper of several) takes `indices`
        if settings.val_images and ('data_prefix' in dataset
                                    or 'data_root' in dataset):
            out[_key(cfg, f'{loader}.dataset.indices')] = settings.val_images
    train_set = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    if settings.target_images and isinstance(train_set.get('target'), dict):
        out[_key(cfg, 'train_dataloader.dataset.target.indices')] = \
            settings.target_images
    return out


# -- checks -------------------------------------------------------------------
def _summary(pieces: Sequence[str]) -> str:
    """Pieces of state (:func:`~.state.owner`) counted by kind; the model's
    plain attributes (mostly its settings) only when few."""
    counts: Dict[str, int] = {}
    for piece in pieces:
        kind = piece.split(':', 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    if counts.get('attr', 0) > 10:
        counts['attr'] = 0
    words = dict(param='parameter', buffer='buffer', attr='model attribute',
                 optim='optimizer', sched='scheduler',
                 hook='hook attribute', rng='random generator')
    text = ', '.join(f'{n} {words.get(k, k)}{"s" if n > 1 else ""}'
                     for k, n in counts.items() if n)
    return text + (', every model attribute' if 'attr' in counts
                   and not counts['attr'] else '')


def _named(pieces: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(st.describe(p) for p in pieces[:limit])
    more = len(pieces) - limit
    return shown + (f' and {more} more' if more > 0 else '')


def _save_fix(pieces: Sequence[str]) -> str:
    """What makes the named state reach the checkpoint."""
    kinds = {p.split(':', 1)[0] for p in pieces}
    fixes = []
    if 'attr' in kinds:
        fixes.append('keep changing model state in buffers '
                     '(self.register_buffer) or submodules, not plain '
                     'attributes')
    if 'buffer' in kinds:
        fixes.append('make those buffers persistent (register_buffer(..., '
                     'persistent=True))')
    if 'hook' in kinds:
        fixes.append("save a hook's state in its before_save_checkpoint and "
                     'restore it in after_load_checkpoint')
    if 'rng' in kinds:
        fixes.append(f'keep {RNG_HOOK} in custom_hooks (custom_hooks = '
                     '_base_.common_custom_hooks + [...])')
    if kinds & {'param', 'optim', 'sched'}:
        fixes.append('the checkpoint does not restore the weights or the '
                     'optimizer: check any state_dict/load_state_dict or '
                     'train_step override')
    return '; '.join(fixes)


def _metric(metrics: Dict[int, Dict[str, float]], it: int) -> str:
    value = (metrics.get(it) or {}).get('mIoU')
    return f'mIoU {value:.2f}' if value is not None else 'no mIoU'


def check_determinism(first: RunResult, second: RunResult,
                      k: int, seed: int) -> CheckResult:
    """Two runs with one seed: the same state and metrics at ``k``."""
    name = 'determinism'
    key = f'before {k}'
    for run in (first, second):
        if run.error or key not in run.states:
            return CheckResult(name, False, f'a run failed: {run.error}',
                               'see the console.log of the run')
    diff = st.owners(st.differences(first.states[key], second.states[key]))
    m1, m2 = first.metrics.get(k), second.metrics.get(k)
    if diff:
        return CheckResult(
            name, False, f'two runs with seed {seed} differ after {k} '
            f'iterations: {_named(diff)}',
            "draw random numbers from torch's, numpy's or Python's global "
            'generators (mmengine seeds them) and keep no state outside the '
            'model and hooks (module globals, class attributes)')
    if m1 != m2:
        return CheckResult(
            name, False, f'same weights but different validation metrics '
            f'after {k} iterations ({_metric(first.metrics, k)} vs '
            f'{_metric(second.metrics, k)})',
            'evaluation must not depend on anything but the weights')
    pieces = st.owners(first.states[key])
    return CheckResult(
        name, True, f'two runs with seed {seed} agree after {k} iterations: '
        f'{_summary(pieces)}; validation {_metric(first.metrics, k)}')


def check_resume(full: RunResult, resumed: RunResult, k: int,
                 iters: int) -> CheckResult:
    """Stopped at ``k`` and resumed = uninterrupted, at the end."""
    name = 'resume'
    if resumed.error or 'end' not in resumed.states:
        return CheckResult(name, False, f'the resumed run failed: '
                           f'{resumed.error}',
                           'see its console.log; --resume must load every '
                           'checkpoint the run writes')
    diff = st.owners(st.differences(full.states['end'], resumed.states['end']))
    if diff:
        return CheckResult(
            name, False, f'stopped at {k} and resumed differs from '
            f'uninterrupted at {iters}: {_named(diff)}', _save_fix(diff))
    if full.metrics.get(iters) != resumed.metrics.get(iters):
        return CheckResult(
            name, False, f'same state but different metrics at {iters} '
            f'({_metric(full.metrics, iters)} vs '
            f'{_metric(resumed.metrics, iters)})',
            'evaluation must not depend on anything but the weights')
    pieces = st.owners(full.states['end'])
    return CheckResult(
        name, True, f'stopped at {k} and resumed = uninterrupted at '
        f'{iters}: {_summary(pieces)} identical; validation '
        f'{_metric(full.metrics, iters)}')


def check_checkpoint(full: RunResult, resumed: RunResult,
                     k: int) -> CheckResult:
    """Every piece of state that changes during training is restored from
    the checkpoint: a piece that changed in the full run before step ``k``,
    differs right after the resume and still differs after the resumed
    run's first step is not in the checkpoint (a value recomputed every
    step, e.g. the last step's pseudo-labels, agrees again after one
    step)."""
    name = 'checkpoint'
    needed = ('before 0', f'before {k}', f'after {k}')
    if any(key not in full.states for key in needed) or any(
            key not in resumed.states for key in needed[1:]):
        return CheckResult(name, None, 'not judged: a run did not reach '
                           f'iteration {k + 1}')
    start, at_k = full.states['before 0'], full.states[f'before {k}']
    changed = st.differences(start, at_k)
    lost = [n for n in st.differences(at_k, resumed.states[f'before {k}'],
                                      changed)
            if n in st.differences(full.states[f'after {k}'],
                                   resumed.states[f'after {k}'], [n])]
    pieces = st.owners(lost)
    if pieces:
        return CheckResult(
            name, False, f'changes during training but is not restored from '
            f'the checkpoint: {_named(pieces, 6)}', _save_fix(pieces))
    moved = st.owners(changed)
    return CheckResult(
        name, True, f'the {len(moved)} pieces of state that change during '
        f'training are all restored ({_summary(moved)})')


def check_pseudo_labels(run: RunResult, diagnosed: bool,
                        why_not: str = '') -> CheckResult:
    """The pseudo-label diagnostics measured what the method recorded, or
    the method records none."""
    name = 'pseudo-labels'
    if run.error:
        return CheckResult(name, None, 'not judged: the run failed')
    steps = run.extra.get('pseudo_label_steps', 0)
    model = run.extra.get('model', 'the model')
    if steps == 0:
        late = {t: s for t, s in run.extra.get('warmups', {}).items()
                if s >= run.extra.get('iters', 0)}
        why = f' (warm-ups past the run: {late})' if late else ''
        return CheckResult(name, True, f'no pseudo-labels: {model} recorded '
                           f'none{why}')
    if not diagnosed:
        return CheckResult(name, None, f'{model} recorded pseudo-labels on '
                           f'{steps} steps; not scored: {why_not}')
    scores = run.extra.get('pl_diag') or {}
    coverage, precision = scores.get('coverage'), scores.get('precision')
    if coverage is None or not 0 <= coverage <= 1 or (
            precision is not None and not 0 <= precision <= 1):
        return CheckResult(
            name, False, f'{model} recorded pseudo-labels on {steps} steps '
            f'but the diagnostics scored {scores or "nothing"}',
            'record_pseudo_labels(labels, target_data_samples) with (N, H, W) '
            'integer labels in the frame of the target batch, 255 where a '
            'pixel has none')
    shown = (f'precision {precision:.2f}' if precision is not None else
             'no pixel selected yet')
    return CheckResult(name, True, f'{steps} steps with pseudo-labels '
                       f'scored by PseudoLabelDiagnosticsHook: coverage '
                       f'{coverage:.2f}, {shown}')


def check_ddp(ranks: List[RunResult], iters: int,
              log_dir: str) -> CheckResult:
    """Two processes train with the config's hooks and validate; weights,
    optimizer, schedulers and hook state end identical on both ranks."""
    name = 'ddp'
    for rank, run in enumerate(ranks):
        if run.error:
            return CheckResult(
                name, False, f'rank {rank} failed: {run.error}',
                'the run must work under DDP (see '
                f'{osp.join(log_dir, f"rank{rank}.log")}); a method that '
                "overrides train_step needs model_wrapper_cfg = dict(type="
                "'MMSeparateDistributedDataParallel', broadcast_buffers="
                'False, find_unused_parameters=False)')
    if not all(iters in r.metrics for r in ranks):
        return CheckResult(name, False, f'no validation at iteration {iters}',
                           'train_cfg.val_interval / val_dataloader')
    a, b = (r.states['end'] for r in ranks)
    # the method's hooks; the default runtime's keep per-rank state by
    # design (RNG streams; the trajectory is measured on rank 0)
    harness = tuple(f'hook:{t}.' for t in ranks[0].extra.get(
        'harness_hooks', ()))
    synced = [n for n in set(a) | set(b)
              if n.split(':', 1)[0] in ('param', 'optim', 'sched', 'hook')
              and not n.startswith(harness)]
    diff = st.owners(st.differences(a, b, synced))
    local = st.owners(st.differences(
        a, b, [n for n in set(a) | set(b)
               if n.split(':', 1)[0] in ('buffer', 'attr')]))
    wrapper = ranks[0].extra.get('wrapper', '?')
    if diff:
        kinds = {p.split(':', 1)[0] for p in diff}
        fix = ('every forward of a step must go through the DDP wrapper '
               '(a method that overrides train_step needs '
               'MMSeparateDistributedDataParallel and its forwards through '
               'the wrapped children)' if kinds & {'param', 'optim'} else
               "gather every rank's updates of a hook's state (as "
               'TemporalEnsembleHook does) so the ranks keep the same')
        return CheckResult(name, False, f'the ranks end with different '
                           f'{_named(diff)} ({wrapper})', fix)
    note = f'; per process: {_summary(local)}' if local else ''
    return CheckResult(
        name, True, f'2 processes (gloo, {wrapper}), {iters} iterations with '
        f'the config\'s hooks, validation {_metric(ranks[0].metrics, iters)}'
        f'; weights, optimizer and hook state identical on both ranks{note}')


# -- the whole check ----------------------------------------------------------
def _config_check(config: str, options: Dict[str, Any],
                  settings: CheckSettings) -> Tuple[CheckResult, Any]:
    """Load the config with the short schedule and run the project's
    config checks and the data verification."""
    from clst_mmseg.apis import load_config, prepare_run
    from clst_mmseg.datasets.verify import verify_config
    name = 'config'
    try:
        cfg = load_config(config, options, format_python_code=False)
        prepare_run(cfg, verify=False)
        verify_config(cfg, max_label_checks=settings.verify_labels)
    except Exception as e:
        return CheckResult(name, False, one_line(e),
                           'what the line names (tools/train.py stops on it '
                           'too)'), None
    hooks = [h.get('type') for h in cfg.get('custom_hooks') or []]
    if RNG_HOOK not in hooks:
        return CheckResult(
            name, False, f'custom_hooks lacks {RNG_HOOK} (an exact --resume '
            'needs it)', 'custom_hooks = _base_.common_custom_hooks + '
            '[your hooks]'), cfg
    sample = ('all label files' if settings.verify_labels is None else
              f'{settings.verify_labels} label files per dataset')
    return CheckResult(
        name, True, f'loads ({cfg.model.type}), values and model arguments '
        f'checked, data verified ({sample})'), cfg


def _target_labels(cfg) -> Tuple[bool, str]:
    """Whether the target train set has label files (what the
    pseudo-label diagnostics score against)."""
    from mmseg.registry import DATASETS
    target = (cfg.get('train_dataloader') or {}).get('dataset', {}).get(
        'target')
    if not isinstance(target, dict):
        return False, 'the train dataset has no target half'
    try:
        dataset = DATASETS.build(target)
        info = dataset.get_data_info(0)
    except Exception as e:
        return False, one_line(e)
    path = info.get('seg_map_path')
    if not path or not osp.isfile(path):
        return False, 'the target train set has no label files'
    return True, ''


def check_method(config: str, work_dir: str,
                 settings: Optional[CheckSettings] = None,
                 cfg_options: Optional[Dict[str, Any]] = None,
                 progress: Callable[[str], None] = lambda msg: None
                 ) -> List[CheckResult]:
    """Check a method's config: the config checks, determinism, an exact
    resume, a checkpoint that holds all changing state, the pseudo-label
    diagnostics and two processes under DDP, on a few iterations of the
    config's task in this process (and two forked ones).

    Args:
        config (str): Config file.
        work_dir (str): Folder for the runs (``run``, ``stopped``, ``ddp``).
        settings (CheckSettings, optional): Sizes of the runs.
        cfg_options (dict, optional): Extra ``--cfg-options``.
        progress (callable): Called with a line before each stage.

    Returns:
        list[CheckResult]: One per check, in order.
    """
    from mmengine.config import Config
    settings = settings or CheckSettings()
    n, k = settings.iters, settings.k
    if not 0 < k < n:
        raise ValueError(f'resume_at must be in [1, {n - 1}], got {k}')
    raw = Config.fromfile(config, import_custom_modules=False).to_dict()
    extra = dict(cfg_options or {})
    options = dict(short_run_options(raw, settings, n, k,
                                     checkpoint_interval=k), **extra)
    result, cfg = _config_check(config, options, settings)
    results = [result]
    names = ('determinism', 'resume', 'checkpoint', 'pseudo-labels', 'ddp')
    if cfg is None:
        return results + [CheckResult(m, None, 'not run: the config check '
                                      'failed') for m in names]
    diagnosed, why_not = _target_labels(cfg)
    hooks = dict(pseudo_label_diagnostics=DIAGNOSTICS) if diagnosed else {}

    progress(f'training {n} iterations, seed {settings.seed} '
             f'(states at 0, {k}, {k + 1} and the end)')
    full = train(config, options, osp.join(work_dir, 'run'),
                 before=(0, k), after=(k, ), end=True,
                 extra_default_hooks=hooks)
    full.extra['iters'] = n
    progress(f'training again, stopped at {k}')
    stopped = train(config, options, osp.join(work_dir, 'stopped'),
                    before=(k, ), stop_at=k, extra_default_hooks=hooks)
    results.append(check_determinism(full, stopped, k, settings.seed))
    progress(f'resuming from iteration {k}')
    ckpt = osp.join(work_dir, 'stopped', f'iter_{k}.pth')
    resumed = train(config, options, osp.join(work_dir, 'stopped'),
                    before=(k, ), after=(k, ), end=True, resume_from=ckpt,
                    extra_default_hooks=hooks) if osp.isfile(ckpt) else \
        RunResult(error=f'no checkpoint {ckpt}')
    if results[-1].ok:
        results.append(check_resume(full, resumed, k, n))
        results.append(check_checkpoint(full, resumed, k))
    else:
        results += [CheckResult(m, None, 'not judged: two runs with one seed '
                                'differ') for m in ('resume', 'checkpoint')]
    results.append(check_pseudo_labels(full, diagnosed, why_not))
    if not settings.ddp:
        return results + [CheckResult('ddp', None, 'not run (--no-ddp)')]
    progress(f'two processes under DDP (gloo), {n} iterations')
    ddp_options = dict(short_run_options(raw, settings, n, n,
                                         trajectory_points=1), **extra)
    ddp_options[_key(raw, 'env_cfg.dist_cfg.backend')] = 'gloo'
    ddp_options[_key(raw, 'env_cfg.dist_cfg.timeout')] = \
        settings.ddp_timeout_s
    ddp_dir = osp.join(work_dir, 'ddp')
    ranks = train_ddp(config, ddp_options, ddp_dir,
                      extra_default_hooks=hooks,
                      timeout_s=settings.ddp_timeout_s)
    results.append(check_ddp(ranks, n, ddp_dir))
    return results
