"""A hook for the DDP tests of the data's random draws: before every
training iteration each rank appends what its batch drew (source and target
image files, crop boxes, flips) to ``<work_dir>/draws_rank<r>.json``, keyed
by the iteration; the file is rewritten at once, so a killed run leaves the
draws of the iterations it trained."""
import json
import os
import os.path as osp

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def _draw(sample) -> list:
    meta = sample.metainfo
    crop = meta.get('crop_bbox')
    return [osp.basename(meta['img_path']),
            None if crop is None else [int(v) for v in crop],
            bool(meta.get('flip', False))]


@HOOKS.register_module()
class DumpDrawsHook(Hook):
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.draws = {}

    def before_train(self, runner) -> None:
        path = osp.join(runner.work_dir, f'draws_rank{runner.rank}.json')
        if osp.isfile(path):  # a resumed run appends to its first part
            with open(path) as f:
                self.draws = json.load(f)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        batch = data_batch or {}
        self.draws[str(runner.iter + 1)] = dict(
            source=[_draw(s) for s in batch.get('data_samples', [])],
            target=[_draw(s) for s in batch.get('target_data_samples', [])])
        path = osp.join(runner.work_dir, f'draws_rank{runner.rank}.json')
        with open(f'{path}.tmp', 'w') as f:
            json.dump(self.draws, f)
        os.replace(f'{path}.tmp', path)
