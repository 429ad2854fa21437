"""Inference helpers of ``tools/infer.py``: a segmentor from a config and a
checked checkpoint, and its prediction written as a coloured mask and an
overlay."""
import os
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.config import Config
from PIL import Image

from clst_mmseg.compat import decode_plain
from clst_mmseg.engine.hooks.checkpoint_identity_hook import (
    CheckpointMismatch, checkpoint_identity, identity_differences,
    identity_from_meta)


def load_segmentor(cfg: Config, checkpoint: str,
                   device: Optional[str] = None):
    """``mmseg.apis.init_model`` on ``cfg``, then the checkpoint's weights,
    after checking that the checkpoint was written by this model and data
    (as ``--resume`` / ``load_from`` do; ``allow_checkpoint_mismatch=True``
    skips the check).

    Args:
        cfg (Config): The model's config.
        checkpoint (str): Checkpoint file.
        device (str, optional): Defaults to ``cuda:0`` if available, else
            ``cpu``.

    Returns:
        nn.Module: The segmentor in eval mode, with ``dataset_meta`` (class
        names and palette) from the checkpoint.

    Raises:
        CheckpointMismatch: The checkpoint was written by another model or
            config.
        ValueError: The checkpoint carries no class names and palette.
    """
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
    from mmseg.apis import init_model
    expected = checkpoint_identity(cfg)  # before init_model edits cfg
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    meta = decode_plain(ckpt.get('meta') or {})
    found = identity_from_meta(meta)
    if found is not None and not cfg.get('allow_checkpoint_mismatch'):
        diffs = identity_differences(found, expected, ('model', 'data'))
        if diffs:
            raise CheckpointMismatch(
                f'{checkpoint} was written by another model or config '
                f'(checkpoint -> now: {"; ".join(diffs[:3])}); to load it '
                'anyway set allow_checkpoint_mismatch=True')
    if not isinstance(meta.get('dataset_meta'), dict) or 'palette' not in \
            meta['dataset_meta']:
        raise ValueError(f'{checkpoint}: no dataset_meta (class names and '
                         'palette) in its meta; was it written by '
                         'tools/train.py?')
    if device is None:
        device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
    model = init_model(cfg, None, device=device)
    load_state_dict(model, ckpt.get('state_dict', ckpt), strict=False)
    model.dataset_meta = meta['dataset_meta']
    return model


def save_prediction(visualizer, image: str, result, mask_path: str,
                    overlay_path: str) -> None:
    """Write a prediction as a palette PNG (pixel value = class index,
    colour = the dataset's palette) and as mmseg's overlay drawing.

    Args:
        visualizer (SegLocalVisualizer): With ``dataset_meta`` set; its
            ``alpha`` is the overlay's opacity.
        image (str): The input image file.
        result (SegDataSample): ``inference_model``'s output.
        mask_path (str): Where the mask goes.
        overlay_path (str): Where the overlay goes.
    """
    import mmcv
    pred = result.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
    palette = np.asarray(visualizer.dataset_meta['palette'], np.uint8)
    mask = Image.fromarray(pred, mode='P')
    mask.putpalette(palette.reshape(-1).tolist())
    os.makedirs(osp.dirname(osp.abspath(mask_path)), exist_ok=True)
    mask.save(mask_path)
    visualizer.add_datasample(
        osp.basename(image), mmcv.imread(image, channel_order='rgb'),
        data_sample=result, draw_gt=False, show=False, with_labels=False,
        out_file=overlay_path)
