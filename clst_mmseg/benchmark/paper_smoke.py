"""The paper-scale smoke (``tools/smoke_paper_scale.py``): random data in
the official layouts, a paper config made to read it, and the checks that a
short run's record and probe (:class:`SmokeProbeHook`) must pass.

Nothing here picks a size: image sizes are the datasets' own, crops, resize
scales, ensemble grids and evaluation resolutions are what the configs say.
``scale`` < 1 shrinks all of them by one factor (a quick run for tests, not
the paper's sizes).
"""
import json
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from clst_mmseg.datasets.cityscapes_labels import CITYSCAPES_CLASSES
from clst_mmseg.datasets.official_layouts import (CITYSCAPES_SIZE, GTA5_SIZE,
                                                  SYNTHIA_SIZE,
                                                  write_cityscapes, write_gta,
                                                  write_synthia)

#: The dataset types of the real tasks and the fake dataset each reads.
DATASET_ROOTS = dict(GTADataset='gta', SynthiaDataset='synthia',
                     CityscapesDataset='cityscapes')
#: Config parts whose sizes the smoke may scale.
SIZED_PARTS = ('model', 'train_dataloader', 'val_dataloader',
               'test_dataloader', 'custom_hooks')  # CBST's labelling pipeline
#: The probe, as a default hook between the ensemble hook (NORMAL) and the
#: checkpoint hook (VERY_LOW).
PROBE_HOOK = dict(type='SmokeProbeHook', priority='LOW')
#: Transforms that crop the training inputs to ``crop_size``.
CROP_TYPES = ('RandomCrop', 'RecordedRandomCrop')
#: Transforms that rescale by a random factor: an input may come out
#: smaller than the crop (the data preprocessor pads it).
RANDOM_RESIZE_TYPES = ('RandomResize', )
#: Transforms that resize the labels for evaluation to ``scale`` (w, h).
EVAL_LABEL_RESIZE_TYPES = ('ResizeLabelsForEval', )
#: Lengths in pixels of the model and the data (scaled like the sizes):
#: DAFormer's pseudo-label crop margins (rows of the target crop) and MIC's
#: mask block side.
PIXEL_LENGTH_KEYS = ('pseudo_ignore_top', 'pseudo_ignore_bottom',
                     'mask_block_size')
#: Areas in pixels of the label files (scaled by ``scale ** 2``): rare class
#: sampling's pixels of a class that make an image a candidate for it.
PIXEL_AREA_KEYS = ('min_pixels', )


def scaled_size(size: Sequence[int], scale: float) -> Tuple[int, int]:
    """A (w, h) or (h, w) pair times ``scale``, rounded, at least 1."""
    return tuple(max(1, int(round(v * scale))) for v in size)


def write_fake_data(root: str, images: int, val_images: int,
                    scale: float = 1.0) -> Dict[str, str]:
    """Write GTA5, SYNTHIA and Cityscapes look-alikes (random images and
    label ids in the official layouts, at the official sizes times
    ``scale``) under ``root`` and convert their labels as the converters
    do, class statistics (rare class sampling's) included.

    Args:
        root (str): Folder for ``gta/``, ``synthia/``, ``cityscapes/``.
        images (int): Images of each training set (GTA5, SYNTHIA,
            Cityscapes train).
        val_images (int): Images of Cityscapes val.
        scale (float): Size factor. Defaults to 1 (the real sizes).

    Returns:
        dict: Dataset type -> data root.
    """
    from clst_mmseg.datasets.convert import (CONVERTED, convert_label_file,
                                            find_label_pairs,
                                            write_dataset_class_stats)
    roots = {kind: osp.join(root, name)
             for kind, name in DATASET_ROOTS.items()}
    write_gta(roots['GTADataset'], images, scaled_size(GTA5_SIZE, scale))
    write_synthia(roots['SynthiaDataset'], images,
                  scaled_size(SYNTHIA_SIZE, scale), seed=1)
    write_cityscapes(roots['CityscapesDataset'], images, val_images,
                     scaled_size(CITYSCAPES_SIZE, scale), seed=2)
    for kind, name in DATASET_ROOTS.items():
        for src, dst in find_label_pairs(name, roots[kind]):
            result = convert_label_file((name, src, dst, True))
            if result != CONVERTED:
                raise RuntimeError(f'label conversion failed: {result}')
        write_dataset_class_stats(name, roots[kind])
    return roots


def _walk(node: Any, path: str = ''):
    """Yield ``(dotted path, dict)`` for every dict under ``node``."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}.{i}')


def _is_pair(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and v > 0 for v in value))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and value > 0


def size_changes(cfg: dict, scale: float) -> Dict[str, Any]:
    """Every size of the model and the data pipelines, times ``scale``:
    transforms' ``scale`` and ``crop_size`` (also in hooks' pipelines, e.g.
    CBST's round labelling), the data preprocessor's ``size``,
    ``memory_size`` (CLST's ensemble grid), a sliding test's ``stride``,
    lengths in pixels (:data:`PIXEL_LENGTH_KEYS`: DAFormer's pseudo-label
    crop margins, MIC's mask blocks) and, times ``scale ** 2``, areas in
    pixels of the label files (:data:`PIXEL_AREA_KEYS`: rare class
    sampling's ``min_pixels``). A scaled value is at least 1.

    Args:
        cfg (dict): The resolved config.
        scale (float): Size factor.

    Returns:
        dict: Dotted key -> scaled value (empty for scale 1).
    """
    if scale == 1:
        return {}
    out = {}
    for part in SIZED_PARTS:
        for path, node in _walk(cfg.get(part), part):
            kind = str(node.get('type', ''))
            for key, value in node.items():
                if key in PIXEL_LENGTH_KEYS and _is_count(value):
                    out[f'{path}.{key}'] = scaled_size([value], scale)[0]
                    continue
                if key in PIXEL_AREA_KEYS and _is_count(value):
                    out[f'{path}.{key}'] = scaled_size([value],
                                                       scale**2)[0]
                    continue
                if not _is_pair(value):
                    continue
                if (key in ('crop_size', 'memory_size')
                        or (key == 'scale' and kind)
                        or (key == 'size'
                            and kind.endswith('DataPreProcessor'))
                        or (key == 'stride' and path.endswith('test_cfg'))):
                    out[f'{path}.{key}'] = scaled_size(value, scale)
    return out


def data_root_changes(cfg: dict, roots: Dict[str, str]) -> Dict[str, str]:
    """Point every dataset of the dataloaders at the fake data.

    Raises:
        ValueError: A dataset type with a ``data_root`` but no fake data.
    """
    out = {}
    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for path, node in _walk(cfg.get(part), part):
            if 'data_root' not in node:
                continue
            kind = node.get('type')
            if kind not in roots:
                raise ValueError(f'{path}.type: the smoke has no fake data '
                                 f'for dataset type {kind!r} (has: '
                                 f'{sorted(roots)})')
            out[f'{path}.data_root'] = roots[kind]
    return out


def round_changes(cfg: dict) -> Dict[str, Any]:
    """``model.num_rounds`` -> 1 for a model that trains in rounds."""
    rounds = cfg.get('model', {}).get('num_rounds')
    return {'model.num_rounds': 1} if rounds not in (None, 1) else {}


def smoke_config(config: str, roots: Dict[str, str],
                 scale: float = 1.0) -> Config:
    """The config of ``config`` reading the fake data, with its sizes times
    ``scale`` and :class:`SmokeProbeHook` among its default hooks. A model
    that trains in rounds (CBST) gets one round: a smoke of a few
    iterations has no room for more (the round machinery still runs once,
    over the whole fake target set).

    Args:
        config (str): A paper-scale task config.
        roots (dict): Dataset type -> data root.
        scale (float): Size factor.

    Returns:
        Config: The changed config (dump it to train it).
    """
    cfg = Config.fromfile(config)
    resolved = cfg.to_dict()
    cfg.merge_from_dict({**data_root_changes(resolved, roots),
                         **size_changes(resolved, scale),
                         **round_changes(resolved)})
    cfg.default_hooks['smoke_probe'] = dict(PROBE_HOOK)
    return cfg


def feature_distance_note(cfgs: Dict[str, dict]) -> Optional[str]:
    """The report's line on the frozen encoder of DAFormer's ImageNet
    feature distance, for the methods whose configs train with one.

    Args:
        cfgs (dict): Method -> its resolved smoke config.

    Returns:
        str, optional: The line; None when no config has a feature distance
        (``model.fd_weight`` > 0).
    """
    ratios = {name: cfg['model'].get('fd_min_ratio')
              for name, cfg in cfgs.items()
              if (cfg.get('model') or {}).get('fd_weight', 0) > 0}
    if not ratios:
        return None
    shares = ', '.join(sorted({str(r) for r in ratios.values()}))
    return (f'FEATURE DISTANCE ({", ".join(sorted(ratios))}): its frozen '
            'encoder, which stands for the ImageNet model, is randomly '
            'initialised too (a draw of its own, not the student\'s start); '
            'with random labels no feature cell has one class on '
            f'fd_min_ratio={shares} of its pixels, so the encoder runs but '
            'the distance covers no cell (fd.cells 0)')


def run_overrides(iters: int) -> Dict[str, Any]:
    """The suite overrides of a smoke run: ``iters`` training iterations,
    validation (one trajectory point) and a checkpoint at the end, a log
    line per iteration, random initialisation allowed (no pretrained
    weights here) and a partial dataset allowed (a few fake images in the
    official layouts, not the official counts)."""
    return {
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters,
        # one trajectory point: the label-free criteria once, at the end
        'trajectory_points': 1,
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.checkpoint.max_keep_ckpts': 1,
        'default_hooks.logger.interval': 1,
        'allow_random_init': True,
        '+allow_partial_data': True,
    }


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def _pipeline_transform(pipeline: Sequence[dict],
                        types: Sequence[str]) -> Optional[dict]:
    return next((t for t in pipeline or [] if t.get('type') in types), None)


def _hw(size: Sequence[int]) -> str:
    return f'{size[0]}x{size[1]}'


def expected_eval_size(cfg: dict, part: str,
                       label_size: Sequence[int]) -> Tuple[int, int]:
    """(h, w) the evaluation compares at: the label files' own size unless
    the pipeline resizes the labels for evaluation."""
    resize = _pipeline_transform(cfg[part]['dataset'].get('pipeline'),
                                 EVAL_LABEL_RESIZE_TYPES)
    if resize is not None:
        return (resize['scale'][1], resize['scale'][0])
    return tuple(label_size)


def ensemble_grid(train: dict) -> Optional[Tuple[int, int]]:
    """The grid a per-image memory of the target frames needs: the network's
    output size for the whole (resized, uncropped) target frame, from the
    output stride the probe saw. None when the probe saw no target batch,
    or target frames of several sizes (a random resize: no single grid)."""
    its = train.get('iterations') or []
    frames = {tuple(f) for it in its for f in it['target_frames']}
    if not its or not its[0]['target'] or len(frames) != 1:
        return None
    target = its[0]['target'][0]
    out = train['output_grids'].get(str(list(target)))
    if out is None:
        return None
    return tuple(int(math.ceil(f * o / t))
                 for f, o, t in zip(frames.pop(), out, target))


def check_run(record: Optional[dict], probe: dict, test_probe: dict,
              cfg: dict, *, iters: int, target_images: int,
              val_images: int, label_size: Sequence[int],
              device: str) -> Tuple[Dict[str, Any], List[str]]:
    """Hold a smoke run's record and probes against its config.

    Args:
        record (dict): The run's benchmark record.
        probe (dict): The training process's probe (``train``, ``val``).
        test_probe (dict): The test process's probe (``test``).
        cfg (dict): The resolved smoke config.
        iters (int): Training iterations asked for.
        target_images (int): Images of the target training set.
        val_images (int): Images of the validation set.
        label_size (Sequence[int]): (h, w) of the validation label files.
        device (str): 'cpu', 'cuda' or 'auto' (not checked).

    Returns:
        tuple: (figures for the report, list of problems; empty = passed).
    """
    problems: List[str] = []
    row: Dict[str, Any] = {}
    if record is None:
        return row, ['no record written']
    row['status'] = record.get('status')
    finished = record.get('status') == 'finished'
    subsets = []
    for part in ('val_evaluator', 'test_evaluator'):
        subsets += list(cfg.get(part, {}).get('class_subsets') or [])
    subsets = sorted(set(subsets))
    row['subsets'] = ','.join(subsets)
    if not finished:
        # no evaluation ran; the figures the probe has are still reported
        reason = record.get('reason') or {}
        problems.append(f'run {record.get("status")}: '
                        f'{reason.get("message", "")}'.strip())
    else:
        if record.get('iterations') != iters:
            problems.append(f'record: {record.get("iterations")} '
                            f'iterations, expected {iters}')
        dev = (record.get('devices') or {}).get('type')
        if device != 'auto' and dev != device:
            problems.append(f'record: trained on {dev}, expected {device}')
        # the class subsets and the classes of the record
        metrics = record.get('metrics') or {}
        missing = [s for s in subsets if s not in metrics]
        if missing:
            problems.append(f'record metrics lack the subsets {missing} '
                            f'(have {sorted(metrics)})')
        classes = sorted(record.get('per_class_iou') or {})
        # the Cityscapes classes, or the subset a config trains (SYNTHIA
        # scored as a 16-class model)
        subset = (cfg['val_dataloader']['dataset'].get('metainfo')
                  or {}).get('classes')
        expected = subset or CITYSCAPES_CLASSES
        if classes != sorted(expected):
            problems.append(
                f'record per-class IoU has {len(classes)} classes, expected '
                f'the {len(expected)} ' +
                ('classes of the config\'s val dataset' if subset else
                 'Cityscapes classes'))

    # training batches
    train = probe.get('train') or {}
    its = train.get('iterations') or []
    if len(its) != iters:
        problems.append(f'probe: {len(its)} training iterations seen, '
                        f'expected {iters}')
    batch = cfg['train_dataloader']['batch_size']
    ds = cfg['train_dataloader']['dataset']
    for name, pipeline, shapes_key in (
            ('source', ds['source'].get('pipeline'), 'source'),
            ('target', ds['target'].get('pipeline'), 'target')):
        crop = _pipeline_transform(pipeline, CROP_TYPES)
        shapes = [tuple(s) for it in its for s in it[shapes_key]]
        if any(len(it[shapes_key]) != batch for it in its):
            problems.append(f'{name} batches of '
                            f'{[len(it[shapes_key]) for it in its]} images, '
                            f'expected {batch}')
        if crop is not None and shapes:
            ch, cw = crop['crop_size']
            over = sorted({s for s in shapes if s[0] > ch or s[1] > cw})
            under = sorted({s for s in shapes if s != (ch, cw)} - set(over))
            if over:
                problems.append(f'{name} inputs {over} larger than the '
                                f'config\'s crop {_hw(crop["crop_size"])}')
            # smaller than the crop only where a random rescale made the
            # image smaller than the crop (the data preprocessor pads them)
            if under and _pipeline_transform(pipeline,
                                             RANDOM_RESIZE_TYPES) is None:
                problems.append(f'{name} inputs {under}, the config crops '
                                f'{_hw(crop["crop_size"])}')
        elif len(set(shapes)) > 1:
            problems.append(f'{name} inputs of several sizes {set(shapes)}')
        row[name] = (_hw(max(set(shapes), key=shapes.count))
                     if shapes else '-')
    for it in its:
        if [tuple(s) for s in it['source']] != [
                tuple(s) for s in it['source_labels']]:
            problems.append(f'source labels {it["source_labels"]} do not '
                            f'match their images {it["source"]}')
            break
    grids = train.get('output_grids') or {}
    row['output'] = ' '.join(
        f'{_hw(json.loads(k))}->{_hw(v)}' for k, v in sorted(grids.items()))

    # the temporal ensemble's grid
    ens = train.get('ensemble')
    row['ensemble'] = '-'
    if ens is not None:
        row['ensemble'] = f'{ens["images"]}x{_hw(ens["grid"])}'
        want = ensemble_grid(train)
        if ens['images'] != target_images:
            problems.append(f'ensemble holds {ens["images"]} images, the '
                            f'target set has {target_images}')
        if want is None:
            row['ensemble'] += ' (unchecked: no single target frame size)'
        elif tuple(ens['grid']) != want:
            problems.append(f'ensemble grid {_hw(ens["grid"])}, the network '
                            f'outputs {_hw(want)} for a whole target frame')

    # evaluation at the label resolution; a run whose headline metrics came
    # from the training's last validation (the test pipeline equals the
    # val one, see run_one.training_metrics) has no separate test phase
    in_training = ((record or {}).get('checkpoint') or {}).get(
        'evaluated_by') == 'training (validation)'
    for phase, source, part in (('val', probe, 'val_dataloader'),
                                ('test', test_probe, 'test_dataloader')):
        rec = source.get(phase) or {}
        samples = rec.get('samples') or []
        want = expected_eval_size(cfg, part, label_size)
        row[f'{phase}_at'] = _hw(want)
        if phase == 'test' and in_training and not rec:
            continue
        if not finished and not rec:
            continue
        if len(samples) != val_images:
            problems.append(f'{phase}: {len(samples)} samples evaluated, '
                            f'expected {val_images}')
        for s in samples:
            if s['label'] is None or tuple(s['pred']) != tuple(s['label']) \
                    or tuple(s['label']) != want:
                problems.append(f'{phase}: prediction {s["pred"]} vs label '
                                f'{s["label"]}, expected both {list(want)}')
                break
        absent = [k for k in subsets if k not in (rec.get('metrics') or [])]
        if absent:
            problems.append(f'{phase}: metrics lack {absent}')

    secs = [it.get('seconds') for it in its]
    row['first_s'] = secs[0] if secs else None
    row['s_per_iter'] = secs[-1] if secs else None
    row['peak_bytes'] = train.get('peak_bytes')
    row['peak_kind'] = train.get('peak_kind')
    row['threads'] = train.get('threads')
    row['device'] = train.get('device')
    return row, problems


def format_report(rows: List[Dict[str, Any]], header: Sequence[str]) -> str:
    """The smoke's table: one line per run, then each run's problems."""
    lines = list(header)
    cols = ('task', 'method', 's/iter', '1st iter', 'peak MiB', 'source',
            'target', 'ensemble', 'eval', 'subsets', 'checks')
    table = [cols]
    for r in rows:
        def num(key, fmt):
            return fmt.format(r[key]) if r.get(key) is not None else '-'
        peak = (f'{r["peak_bytes"] / 2**20:.0f}'
                if r.get('peak_bytes') is not None else '-')
        table.append((
            r['task'], r['method'], num('s_per_iter', '{:.1f}'),
            num('first_s', '{:.1f}'), peak, r.get('source', '-'),
            r.get('target', '-'), r.get('ensemble', '-'),
            r.get('test_at', '-'), r.get('subsets', '-'),
            'ok' if not r['problems'] else f'{len(r["problems"])} FAILED'))
    widths = [max(len(str(row[i])) for row in table)
              for i in range(len(cols))]
    for i, row in enumerate(table):
        lines.append('  '.join(str(v).ljust(w)
                               for v, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append('  '.join('-' * w for w in widths))
    grids = sorted({r['output'] for r in rows if r.get('output')})
    if grids:
        lines.append('network output grids (input -> feature the decode '
                     'head reads): ' + '; '.join(grids))
    for r in rows:
        for p in r['problems']:
            lines.append(f'FAILED {r["task"]}/{r["method"]}: {p}')
    return '\n'.join(lines)
