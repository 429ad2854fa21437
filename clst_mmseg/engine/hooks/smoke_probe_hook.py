"""What a short run actually did -- shapes, output grids, time, memory --
written into its work dir for a smoke test to check."""
import json
import os
import os.path as osp
import threading
import time
from typing import Dict, List, Optional

import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

PROBE_FILE = 'smoke_probe.json'


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc/self/statm``)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class RSSSampler(threading.Thread):
    """The largest resident set size seen, sampled every 10 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.start_bytes = rss_bytes()
        self.peak = self.start_bytes
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.01):
            self.peak = max(self.peak, rss_bytes())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, rss_bytes())


def _hw(shape) -> List[int]:
    return [int(v) for v in tuple(shape)[-2:]]


@HOOKS.register_module()
class SmokeProbeHook(Hook):
    """Writes ``<work_dir>/smoke_probe.json`` (rank 0) for
    ``tools/smoke_paper_scale.py`` to hold against the config:

    - ``train``: per iteration its seconds (from the end of the previous
      one; the first from the start of training), the (h, w) of the source
      images, source labels, target images and the target frames before any
      crop (original size times the resize factor); ``output_grids``: the
      resolution of the (first) feature the decode head reads, per network
      input size seen (the backbone's own forward; a multi-level head such
      as DAFormer's outputs at its first level's resolution); ``ensemble``: image count and
      grid of a ``TemporalEnsembleHook``'s memory; ``peak_bytes`` /
      ``peak_kind``: CUDA ``max_memory_allocated`` during training, or on
      the CPU the growth of the resident set size from the start of training
      to its largest value during the training iterations; device, threads.
    - ``val`` / ``test``: per sample the prediction and label (h, w), and
      the metric names.

    Register it as a default hook between the ensemble hook (NORMAL) and
    the checkpoint hook (VERY_LOW), so that an iteration's time includes the
    ensemble update but not the checkpoint writing::

        default_hooks = dict(
            smoke_probe=dict(type='SmokeProbeHook', priority='LOW'))
    """

    def __init__(self) -> None:
        self.record: Dict[str, dict] = {}
        self._sampler: Optional[RSSSampler] = None
        self._handle = None
        self._last = 0.0
        self._grids: Dict[str, List[int]] = {}

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return model

    @staticmethod
    def _sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def _watch_features(self, runner) -> None:
        model = self._model(runner)
        seg = getattr(model, 'segmentor_module', model)
        level = seg.decode_head.in_index
        level = level if isinstance(level, int) else level[0]
        feature_module = seg.neck if getattr(seg, 'with_neck',
                                             False) else seg.backbone

        def watch(module, args, out):
            feats = out if isinstance(out, (list, tuple)) else [out]
            self._grids[str(_hw(args[0].shape))] = _hw(feats[level].shape)

        self._handle = feature_module.register_forward_hook(watch)

    @master_only
    def _write(self, runner) -> None:
        path = osp.join(runner.work_dir, PROBE_FILE)
        tmp = f'{path}.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.record, f, indent=1)
        os.replace(tmp, path)

    # -- training ----------------------------------------------------------
    def before_train(self, runner) -> None:
        cuda = torch.cuda.is_available()
        self.record['train'] = dict(
            device='cuda' if cuda else 'cpu',
            threads=torch.get_num_threads(), iterations=[], output_grids={},
            peak_kind=('cuda max_memory_allocated' if cuda else
                       'CPU RSS growth during training'))
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        self._sampler = RSSSampler()
        self._sampler.start()
        self._watch_features(runner)
        self._sync()
        self._last = time.perf_counter()

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        batch = data_batch or {}
        it = dict(
            source=[_hw(x.shape) for x in batch.get('inputs', [])],
            source_labels=[
                _hw(s.gt_sem_seg.shape) for s in batch.get('data_samples', [])
                if 'gt_sem_seg' in s
            ],
            target=[_hw(x.shape) for x in batch.get('target_inputs', [])],
            target_frames=[])
        for s in batch.get('target_data_samples', []):
            h, w = s.metainfo['ori_shape'][:2]
            sw, sh = s.metainfo.get('scale_factor') or (1.0, 1.0)
            it['target_frames'].append([int(round(h * sh)),
                                        int(round(w * sw))])
        self.record['train']['iterations'].append(it)

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        self._sync()
        now = time.perf_counter()
        train = self.record['train']
        train['iterations'][-1]['seconds'] = now - self._last
        self._last = now
        if torch.cuda.is_available():
            train['peak_bytes'] = int(torch.cuda.max_memory_allocated())
        else:
            train['peak_bytes'] = int(self._sampler.peak -
                                      self._sampler.start_bytes)

    def after_train(self, runner) -> None:
        self._sampler.stop()
        self._handle.remove()
        train = self.record['train']
        train['output_grids'] = dict(self._grids)
        for hook in runner.hooks:
            memory = getattr(hook, 'memory', None)
            if type(hook).__name__ == 'TemporalEnsembleHook' and memory:
                train['ensemble'] = dict(images=int(memory.num_images),
                                         grid=list(memory.size))
        self._write(runner)

    # -- evaluation --------------------------------------------------------
    def _eval_iter(self, phase: str, outputs) -> None:
        rec = self.record.setdefault(phase, dict(samples=[]))
        for out in outputs or []:
            rec['samples'].append(
                dict(pred=_hw(out.pred_sem_seg.shape),
                     label=_hw(out.gt_sem_seg.shape)
                     if 'gt_sem_seg' in out else None))

    def _eval_epoch(self, runner, phase: str, metrics) -> None:
        rec = self.record.setdefault(phase, dict(samples=[]))
        rec['metrics'] = sorted(metrics or {})
        self._write(runner)

    def before_val_epoch(self, runner) -> None:
        self.record['val'] = dict(samples=[])

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        self._eval_iter('val', outputs)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._eval_epoch(runner, 'val', metrics)

    def before_test_epoch(self, runner) -> None:
        self.record['test'] = dict(samples=[])

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        self._eval_iter('test', outputs)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._eval_epoch(runner, 'test', metrics)
