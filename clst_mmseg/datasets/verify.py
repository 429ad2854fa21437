"""Check datasets on disk against the configs that will read them, before a
long run finds out.

:func:`verify_dataset` checks one folder dataset (files, label values,
image/label sizes and, for GTA5, SYNTHIA and Cityscapes, the official counts
and image size: :mod:`.completeness`); :func:`verify_config` walks every
dataloader of a config, recursing into wrapper datasets, and checks that the
model's heads predict as many classes as the datasets define. Problems carry
the command that fixes them (:class:`~.completeness.Problem`).
"""
import copy
import inspect
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS
from PIL import Image

from ..synthia_scoring import SYNTHIA_SCORING
from .cityscapes_labels import CLASS_SUBSETS, IGNORE_INDEX
from .completeness import (Problem, completeness_problems,
                           load_official_facts, missing_root_fix,
                           official_dataset, with_prefix)

MAX_PROBLEM_LINES = 20
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: Rare class sampling's per-image class statistics, written beside the
#: converted labels by the converters. Slot for
#: ``clst_mmseg.datasets.class_stats.CLASS_STATS_FILE`` (helper i23-train):
#: the lead replaces this with that import when both branches are merged.
CLASS_STATS_FILE = 'sample_class_stats.json'
#: The dataset config key that turns rare class sampling on (DAFormer's
#: name; the lead aligns it with i23-train's key at merge).
RARE_CLASS_SAMPLING_KEY = 'rare_class_sampling'
LABEL_MODES = ('L', 'P', 'I', 'I;16', 'I;16B', 'I;16L')


class DatasetVerificationError(ValueError):
    """Problems found in a dataset or config, one line each.

    Args:
        header (str): What was checked.
        problems (list[str]): One line per problem, naming the file or key.
    """

    def __init__(self, header: str, problems: List[str]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(
            f'{header}: {len(self.problems)} problem(s)', self.problems))


def format_problems(header: str, problems: List[str]) -> str:
    """A header line, then one line per problem and, below a problem that
    has one, the line with its fix (at most ``MAX_PROBLEM_LINES`` problems;
    a fix shared by several problems is shown once)."""
    lines = [header]
    shown_fixes = set()
    for p in problems[:MAX_PROBLEM_LINES]:
        lines.append(f'  {p}')
        fix = getattr(p, 'fix', None)
        if fix and fix not in shown_fixes:
            lines.append(f'      fix: {fix}')
            shown_fixes.add(fix)
    if len(problems) > MAX_PROBLEM_LINES:
        lines.append(f'  ... and {len(problems) - MAX_PROBLEM_LINES} more')
    return '\n'.join(lines)


@dataclass
class _Checked:
    """Outcome of checking one dataset config."""
    name: str
    problems: List[str]
    num_classes: Optional[int] = None  # classes the dataset yields
    notes: Optional[List[str]] = None  # what was counted


def _resolve_type(type_: Any) -> type:
    if isinstance(type_, type):
        return type_
    cls = DATASETS.get(type_) if isinstance(type_, str) else None
    if cls is None:
        raise DatasetVerificationError(
            f'dataset type {type_!r}',
            [f'unknown dataset type {type_!r}: not registered in mmseg\'s '
             'DATASETS registry (is the module defining it imported?)'])
    return cls


def _build_lazily(cls: type, cfg: dict) -> BaseSegDataset:
    """Instantiate a folder dataset without loading its file list."""
    cfg = dict(cfg, pipeline=[], lazy_init=True)
    accepted = inspect.signature(cls.__init__).parameters
    if 'require_labels' not in accepted:
        cfg.pop('require_labels', None)
    return cls(**cfg)


def _label_values(path: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """Distinct values of a label file, or a problem description."""
    with Image.open(path) as img:
        if img.mode not in LABEL_MODES:
            return None, (f'expected a single-channel label PNG, got PIL '
                          f'mode {img.mode}')
        arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return np.flatnonzero(np.bincount(arr.ravel(), minlength=256)), None
    return np.unique(arr), None


def _check_item(item: dict, require_labels: bool, check_values: bool,
                allowed: np.ndarray, allowed_text: str,
                summarised: bool = False) -> List[str]:
    """Check one image and its label; returns problem lines (a missing
    label file only when ``summarised`` is False: the completeness check
    of an official dataset reports those, grouped)."""
    img_path = item['img_path']
    try:
        with Image.open(img_path) as img:
            img_size = img.size  # header only, no pixel decoding
    except FileNotFoundError:
        return [f'{img_path}: image file listed but missing']
    except Exception as e:
        return [f'{img_path}: cannot read the image header ({e})']
    seg_path = item.get('seg_map_path')
    if not require_labels or seg_path is None:
        return []
    if not osp.isfile(seg_path):
        return [] if summarised else [
            f'{seg_path}: missing label file (expected for {img_path})']
    try:
        with Image.open(seg_path) as seg:
            seg_size = seg.size
        values, problem = (_label_values(seg_path) if check_values else
                           (None, None))
    except Exception as e:
        return [f'{seg_path}: cannot read the label ({e})']
    problems = []
    if seg_size != img_size:
        problems.append(
            f'{seg_path}: label size {seg_size[0]}x{seg_size[1]} != image '
            f'size {img_size[0]}x{img_size[1]} of {img_path}')
    if problem:
        problems.append(f'{seg_path}: {problem}')
    elif values is not None:
        bad = np.setdiff1d(values, allowed)
        if bad.size:
            shown = ', '.join(str(v) for v in bad[:8])
            problems.append(f'{seg_path}: label values {{{shown}}} outside '
                            f'{allowed_text}')
    return problems


def _check_dataset(dataset_cfg: dict,
                   num_classes: Optional[int] = None,
                   require_labels: bool = True,
                   max_label_checks: Optional[int] = None,
                   num_workers: Optional[int] = None,
                   allow_partial: bool = False,
                   facts: Optional[dict] = None) -> _Checked:
    cfg = copy.deepcopy(dict(dataset_cfg))
    if 'type' not in cfg:
        raise DatasetVerificationError(
            'dataset config', [f'no `type` key in dataset config {cfg}'])
    type_ = cfg.pop('type')
    cls = _resolve_type(type_)
    name = f'{cls.__name__} (data_root={cfg.get("data_root")})'
    if not issubclass(cls, BaseSegDataset):
        return _Checked(name, [
            f'dataset type {cls.__name__} is not a folder dataset '
            '(BaseSegDataset); wrap it as source/target, datasets or dataset '
            'and use verify_config'])
    require_labels = cfg.get('require_labels', require_labels)

    facts = load_official_facts() if facts is None else facts
    official = official_dataset(cls.__name__, facts)
    data_root = cfg.get('data_root')
    if data_root is not None and not osp.isdir(data_root):
        what = facts[official]['title'] if official else 'the dataset'
        return _Checked(name, [Problem(
            f'{data_root}: data_root does not exist (expected the root '
            f'folder of {what})',
            missing_root_fix(facts[official], data_root) if official else
            None)])
    try:
        ds = _build_lazily(cls, cfg)
    except Exception as e:
        return _Checked(name, [f'cannot build {cls.__name__} from its '
                               f'config: {type(e).__name__}: {e}'])

    img_dir = ds.data_prefix.get('img_path')
    seg_dir = ds.data_prefix.get('seg_map_path')
    problems = []
    if not img_dir or not osp.isdir(img_dir):
        problems.append(f'{img_dir}: image folder does not exist (expected '
                        'data_root/data_prefix.img_path)')
    if require_labels and (not seg_dir or not osp.isdir(seg_dir)):
        problems.append(f'{seg_dir}: label folder does not exist (expected '
                        'data_root/data_prefix.seg_map_path)')
    if ds.ann_file and not osp.isfile(ds.ann_file):
        problems.append(f'{ds.ann_file}: ann_file does not exist')
    # an official dataset's missing folders: download (and convert) it
    fix = (missing_root_fix(facts[official], data_root)
           if official and data_root is not None else None)
    if problems:
        return _Checked(name, [Problem(p, fix) for p in problems])

    data_list = ds.load_data_list()
    if not data_list:
        where = ds.ann_file or img_dir
        return _Checked(
            name, [Problem(f'{where}: no images *{ds.img_suffix} found',
                           fix)])

    # Values as stored on disk, before mmseg's label_map / reduce_zero_label.
    if num_classes is None:
        if ds.label_map is not None:
            num_classes = len(cls.METAINFO['classes'])
        else:
            num_classes = len(ds.metainfo.get('classes') or ())
        num_classes += int(bool(ds.reduce_zero_label))
    allowed = np.array(list(range(num_classes)) + [IGNORE_INDEX])
    allowed_text = (f'0..{num_classes - 1} and {IGNORE_INDEX} '
                    f'(num_classes={num_classes})')

    n = len(data_list)
    if max_label_checks is None or max_label_checks >= n:
        value_checked = set(range(n))
    else:
        k = max(max_label_checks, 1)  # centres of k equal strides
        value_checked = set(((np.arange(k) + 0.5) * n / k).astype(int))
    summarised = official is not None and data_root is not None
    if summarised:
        problems, notes = completeness_problems(
            cls.__name__, data_root, img_dir, data_list, require_labels,
            ds.seg_map_suffix, allow_partial, facts)
    else:
        notes = [f'{cls.__name__} at {data_root or img_dir}: '
                 f'{len(data_list):,} images']
    workers = num_workers or min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(
            lambda ix: _check_item(ix[1], require_labels, ix[0] in
                                   value_checked, allowed, allowed_text,
                                   summarised),
            enumerate(data_list))
        for lines in results:
            problems.extend(lines)
    return _Checked(name, problems, len(ds.metainfo.get('classes') or ()),
                    notes)


def verify_dataset(dataset_cfg: dict,
                   num_classes: Optional[int] = None,
                   require_labels: bool = True,
                   max_label_checks: Optional[int] = None,
                   num_workers: Optional[int] = None,
                   allow_partial: bool = False,
                   facts: Optional[dict] = None) -> List[str]:
    """Check one mmseg folder dataset on disk.

    Checks that ``data_root`` and the image/label folders exist, that there
    is at least one image, that every image has its label file, that label
    values lie in ``range(num_classes)`` or are 255, and that each label has
    its image's size (read from the PNG headers). A dataset of an official
    download (GTA5, SYNTHIA, Cityscapes: ``official_datasets.yaml``) must
    also be complete and at its official image size (a sample), unless
    ``allow_partial``.

    Args:
        dataset_cfg (dict): mmseg dataset config (``type``, ``data_root``,
            ``data_prefix``, optional ``metainfo``, suffixes...); missing keys
            take the defaults of the registered class.
        num_classes (int, optional): Label values allowed on disk (plus 255).
            Defaults to the number of classes in the dataset's metainfo.
        require_labels (bool): Whether label files must exist; a
            ``require_labels`` key in ``dataset_cfg`` overrides it.
            Defaults to True.
        max_label_checks (int, optional): Check label values of only this
            many evenly spaced files (sizes are always checked for all).
            Defaults to None (all files).
        num_workers (int, optional): Reader threads. Defaults to
            ``4 * cpu_count`` capped at 32.
        allow_partial (bool): A deliberate subset of an official dataset
            (e.g. the tests' tiny fixtures): its counts and image size are
            not held to the official ones. Defaults to False.
        facts (dict, optional): Official facts instead of the package's
            (tests).

    Returns:
        list[str]: Notes of what was counted.

    Raises:
        DatasetVerificationError: Listing every problem found.
    """
    checked = _check_dataset(dataset_cfg, num_classes, require_labels,
                             max_label_checks, num_workers, allow_partial,
                             facts)
    if checked.problems:
        raise DatasetVerificationError(
            f'dataset {checked.name}', checked.problems)
    return checked.notes or []


def _leaf_datasets(ds_cfg: dict, key: str, require_labels: bool
                   ) -> Iterator[Tuple[str, dict, bool]]:
    """Yield (key, leaf dataset config, require_labels) of a dataset tree.

    A paired UDA dataset holds ``source`` and ``target``: the target needs no
    labels unless its config says ``require_labels=True``. ConcatDataset
    holds ``datasets``; RepeatDataset-like wrappers hold ``dataset``.
    """
    if 'source' in ds_cfg and 'target' in ds_cfg:
        yield from _leaf_datasets(ds_cfg['source'], f'{key}.source', True)
        target = ds_cfg['target']
        yield from _leaf_datasets(target, f'{key}.target',
                                  bool(target.get('require_labels', False)))
    elif 'datasets' in ds_cfg:
        for i, sub in enumerate(ds_cfg['datasets']):
            yield from _leaf_datasets(sub, f'{key}.datasets[{i}]',
                                      require_labels)
    elif isinstance(ds_cfg.get('dataset'), dict):
        yield from _leaf_datasets(ds_cfg['dataset'], f'{key}.dataset',
                                  require_labels)
    else:
        yield key, ds_cfg, require_labels


def leaf_datasets(cfg: Any) -> Iterator[Tuple[str, dict, bool]]:
    """``(config key, folder dataset config, labels required)`` of every
    dataset the dataloaders of ``cfg`` read (wrappers unpacked; see
    :func:`verify_config`)."""
    for loader in DATALOADERS:
        loader_cfg = cfg.get(loader)
        if loader_cfg and loader_cfg.get('dataset'):
            yield from _leaf_datasets(loader_cfg['dataset'],
                                      f'{loader}.dataset', True)


def check_leaf(leaf: dict, require_labels: bool,
               max_label_checks: Optional[int] = None,
               allow_partial: bool = False,
               facts: Optional[dict] = None) -> Tuple[List[str], List[str]]:
    """Problems and notes of one dataset of :func:`leaf_datasets`, as
    :func:`verify_config` checks it."""
    try:
        checked = _check_dataset(leaf, require_labels=require_labels,
                                 max_label_checks=max_label_checks,
                                 allow_partial=allow_partial, facts=facts)
    except DatasetVerificationError as e:
        return e.problems, []
    return checked.problems, checked.notes or []


def _heads(model_cfg: dict) -> Iterator[Tuple[str, dict]]:
    """Yield (key, head config) of the heads that predict classes."""
    prefix = 'model'
    if 'decode_head' not in model_cfg and isinstance(
            model_cfg.get('segmentor'), dict):
        model_cfg, prefix = model_cfg['segmentor'], 'model.segmentor'
    for name in ('decode_head', 'auxiliary_head'):
        heads = model_cfg.get(name)
        if isinstance(heads, dict):
            yield f'{prefix}.{name}', heads
        elif isinstance(heads, (list, tuple)):
            for i, head in enumerate(heads):
                yield f'{prefix}.{name}[{i}]', head


def class_stats_problems(cfg: Any, facts: Optional[dict] = None
                         ) -> List[str]:
    """The class statistics that rare class sampling reads: for a training
    dataset with ``RARE_CLASS_SAMPLING_KEY`` set, ``CLASS_STATS_FILE`` must
    be in the ``data_root`` of its labelled (source) datasets.

    Args:
        cfg (Config | dict): The merged config.
        facts (dict, optional): Official facts (for the converter command).

    Returns:
        list[str]: One :class:`Problem` per missing file, whose fix is the
        converter that writes it (empty when no dataset samples rare
        classes).
    """
    dataset = (cfg.get('train_dataloader') or {}).get('dataset')
    if not isinstance(dataset, dict):
        return []

    def sampled(node: Any) -> bool:
        if not isinstance(node, dict):
            return False
        if node.get(RARE_CLASS_SAMPLING_KEY):
            return True
        return any(sampled(v) for v in node.values()
                   if isinstance(v, dict)) or any(
                       sampled(v) for v in node.get('datasets') or []
                       if isinstance(v, dict))

    if not sampled(dataset):
        return []
    facts = load_official_facts() if facts is None else facts
    problems = []
    for key, leaf, need_labels in _leaf_datasets(
            dataset, 'train_dataloader.dataset', True):
        root = leaf.get('data_root')
        if not need_labels or root is None:
            continue
        path = osp.join(root, CLASS_STATS_FILE)
        if not osp.isfile(path):
            kind = official_dataset(str(leaf.get('type')), facts)
            problems.append(Problem(
                f'[{key}] {path}: class statistics missing (rare class '
                'sampling reads them)',
                facts[kind]['converter'].format(root=root.rstrip('/'))
                if kind else 'run the converter that writes '
                f'{CLASS_STATS_FILE} for this dataset'))
    return problems


def synthia_scoring_problems(cfg: Any) -> List[str]:
    """Check a config's ``synthia_scoring`` against its classifier and
    datasets (no data is read).

    ``'train16'`` needs ``num_classes=16`` on every classifier and the 16
    SYNTHIA classes (``CLASS_SUBSETS['mIoU16']``) as ``metainfo.classes`` of
    every dataset; ``'subset19'`` needs 19-class classifiers and no dataset
    restricted to fewer classes. A config without the key is not checked.

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        list[str]: One line per problem, naming the key.
    """
    scoring = cfg.get('synthia_scoring')
    if scoring is None:
        return []
    if scoring not in SYNTHIA_SCORING:
        return [f'synthia_scoring={scoring!r}: expected one of '
                f'{sorted(SYNTHIA_SCORING)}']
    want = SYNTHIA_SCORING[scoring]['num_classes']
    want_classes = (list(CLASS_SUBSETS['mIoU16'])
                    if scoring == 'train16' else None)
    problems = []
    for head_key, head in _heads(cfg.get('model') or {}):
        if head.get('num_classes') != want:
            problems.append(
                f'{head_key}.num_classes={head.get("num_classes")} but '
                f'synthia_scoring={scoring!r} trains {want} classes')
    for loader in DATALOADERS:
        loader_cfg = cfg.get(loader)
        if not loader_cfg or not loader_cfg.get('dataset'):
            continue
        for key, leaf, _ in _leaf_datasets(loader_cfg['dataset'],
                                           f'{loader}.dataset', True):
            classes = (leaf.get('metainfo') or {}).get('classes')
            classes = None if classes is None else list(classes)
            if classes != want_classes:
                problems.append(
                    f'{key}.metainfo.classes={classes} but '
                    f'synthia_scoring={scoring!r} expects '
                    f'{want_classes or "the 19 Cityscapes classes (None)"}')
    return problems


def config_problems(cfg: Any,
                    max_label_checks: Optional[int] = None,
                    allow_partial: Optional[bool] = None,
                    facts: Optional[dict] = None
                    ) -> Tuple[List[str], List[str]]:
    """Every problem of the datasets a config reads, and notes of what was
    counted (see :func:`verify_config`).

    Returns:
        tuple[list[str], list[str]]: Problems (``Problem`` lines prefixed
        with the config key of their dataset) and notes.
    """
    if allow_partial is None:
        allow_partial = bool(cfg.get('allow_partial_data', False))
    problems: List[str] = []
    notes: List[str] = []
    class_counts: List[Tuple[str, int]] = []
    seen: Dict[str, _Checked] = {}
    for loader in DATALOADERS:
        loader_cfg = cfg.get(loader)
        if not loader_cfg or not loader_cfg.get('dataset'):
            continue
        for key, leaf, need_labels in _leaf_datasets(
                loader_cfg['dataset'], f'{loader}.dataset', True):
            cache_key = repr((sorted(leaf.items(), key=str), need_labels))
            if cache_key not in seen:
                try:
                    seen[cache_key] = _check_dataset(
                        leaf, require_labels=need_labels,
                        max_label_checks=max_label_checks,
                        allow_partial=allow_partial, facts=facts)
                except DatasetVerificationError as e:
                    seen[cache_key] = _Checked(str(leaf.get('type')),
                                               e.problems)
                problems += [with_prefix(f'[{key}] ', p)
                             for p in seen[cache_key].problems]
                notes += [f'[{key}] {n}'
                          for n in seen[cache_key].notes or []]
            if seen[cache_key].num_classes:
                class_counts.append((key, seen[cache_key].num_classes))

    problems += class_stats_problems(cfg, facts)
    problems += synthia_scoring_problems(cfg)
    model = cfg.get('model') or {}
    for head_key, head in _heads(model):
        n_head = head.get('num_classes')
        for key, n_data in class_counts:
            if n_head is not None and n_head != n_data:
                problems.append(
                    f'{head_key}.num_classes={n_head} but {key} has '
                    f'{n_data} classes (expected them equal)')
    return problems, notes


def verify_config(cfg: Union[str, Any],
                  max_label_checks: Optional[int] = None,
                  allow_partial: Optional[bool] = None,
                  facts: Optional[dict] = None) -> List[str]:
    """Check every dataset a config reads and its model's class count.

    Walks ``train/val/test_dataloader.dataset`` (recursing into UDA
    ``source``/``target``, ConcatDataset ``datasets`` and wrapper ``dataset``
    keys), runs :func:`verify_dataset` on each folder dataset, and checks
    that every ``num_classes`` of ``model.decode_head`` / ``auxiliary_head``
    (or of ``model.segmentor``'s when the model wraps a segmentor) equals the
    number of classes of each dataset, and that a ``synthia_scoring`` key
    agrees with both (:func:`synthia_scoring_problems`).

    Args:
        cfg (Config | str): mmengine Config or its file path.
        max_label_checks (int, optional): See :func:`verify_dataset`.
        allow_partial (bool, optional): See :func:`verify_dataset`; None
            reads the config's ``allow_partial_data`` (default False).
        facts (dict, optional): Official facts instead of the package's
            (tests).

    Returns:
        list[str]: Notes of what was counted, per dataset key.

    Raises:
        DatasetVerificationError: Listing every problem, each prefixed with
            the config key of the dataset it concerns.
    """
    from mmengine.config import Config
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    problems, notes = config_problems(cfg, max_label_checks, allow_partial,
                                      facts)
    if problems:
        raise DatasetVerificationError(
            f'config {getattr(cfg, "filename", None) or "<in memory>"}',
            problems)
    return notes
