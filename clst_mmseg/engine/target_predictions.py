"""Predictions of a network over a target dataset, image by image, in each
image's own frame (for round-based pseudo-labelling)."""
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.dataset import Compose, pseudo_collate
from mmseg.models.utils import resize
from torch import Tensor

#: The default labelling pipeline: the image as loaded, in its own frame.
OWN_FRAME_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='PackUDAInputs'),
]


def label_frame_size(meta: dict,
                     label_scale: Optional[float]) -> Tuple[int, int]:
    """(h, w) of the grid a label map is kept on: the labelling input's
    ``img_shape`` when ``label_scale`` is None, else the image's own
    ``ori_shape`` times ``label_scale``."""
    if label_scale is None:
        return tuple(int(v) for v in meta['img_shape'][:2])
    h0, w0 = meta['ori_shape'][:2]
    return (max(1, int(round(h0 * label_scale))),
            max(1, int(round(w0 * label_scale))))


def _probs(segmentor, inputs: Tensor, metas: List[dict], sizes,
           flip: bool) -> List[Tensor]:
    """Softmax of the upsampled logits (optionally averaged with the
    flipped input's, flipped back), one (C, h, w) map per image."""

    def one_pass(x: Tensor, flipped: bool) -> List[Tensor]:
        logits = segmentor._forward(x)
        out = []
        for i, meta in enumerate(metas):
            h, w = (int(v) for v in meta['img_shape'][:2])
            lg = logits[i:i + 1]
            if tuple(x.shape[2:]) != (h, w):  # padded input: crop first
                lg = resize(lg, size=x.shape[2:], mode='bilinear',
                            align_corners=segmentor.align_corners)
                lg = lg[..., :h, :w] if not flipped else \
                    lg[..., :h, x.shape[3] - w:]
            p = resize(lg, size=sizes[i], mode='bilinear',
                       align_corners=segmentor.align_corners).float()
            p = p.softmax(1)[0]
            out.append(p.flip(-1) if flipped else p)
        return out

    probs = one_pass(inputs, False)
    if flip:
        flipped = one_pass(inputs.flip(-1), True)
        probs = [0.5 * (a + b) for a, b in zip(probs, flipped)]
    return probs


@torch.no_grad()
def iter_target_probs(model,
                      dataset,
                      indices: Sequence[int],
                      pipeline: Optional[list] = None,
                      flip: bool = False,
                      batch_size: int = 1,
                      label_scale: Optional[float] = None
                      ) -> Iterator[Tuple[int, Tensor]]:
    """Class probabilities of the images ``indices`` of ``dataset``.

    Each image goes through ``pipeline`` (deterministic: load, optionally a
    fixed resize, ``PackUDAInputs``), the model's data preprocessor and its
    segmentor (call with the segmentor in eval mode). Logits are resized
    bilinearly to the label grid (:func:`label_frame_size`), then
    soft-maxed; with ``flip`` the prediction of the horizontally flipped
    input, flipped back, is averaged in (as CBST's released code does with
    ``--test-flipping``). Consecutive images of one input size are batched.

    Args:
        model (UDASegmentor): Provides ``data_preprocessor`` and
            ``segmentor``.
        dataset (BaseDataset): The target dataset (``get_data_info``).
        indices (Sequence[int]): Images to predict.
        pipeline (list, optional): Transforms; defaults to
            :data:`OWN_FRAME_PIPELINE`.
        flip (bool): Average with the flipped prediction.
        batch_size (int): Images per forward pass.
        label_scale (float, optional): Label grid relative to the image's own
            frame; None: the labelling input's size.

    Yields:
        tuple[int, Tensor]: Dataset index and (C, h, w) float32 probabilities
        on the model's device.
    """
    transform = Compose(pipeline or OWN_FRAME_PIPELINE)
    segmentor = model.segmentor_module  # without an in-place DDP wrapper
    pending: List[Tuple[int, dict]] = []

    def flush():
        data = model.data_preprocessor(
            pseudo_collate([item for _, item in pending]), False)
        metas = [s.metainfo for s in data['data_samples']]
        sizes = [label_frame_size(m, label_scale) for m in metas]
        probs = _probs(segmentor, data['inputs'], metas, sizes, flip)
        out = [(idx, p) for (idx, _), p in zip(pending, probs)]
        pending.clear()
        return out

    for idx in indices:
        item = transform(dataset.get_data_info(int(idx)))
        if item is None:
            raise ValueError(f'the labelling pipeline dropped target image '
                             f'{idx}')
        if pending and (len(pending) >= batch_size or
                        item['inputs'].shape != pending[0][1]['inputs'].shape):
            yield from flush()
        pending.append((int(idx), item))
    if pending:
        yield from flush()


def shard(n: int, rank: int, world_size: int) -> List[int]:
    """The indices of ``range(n)`` rank ``rank`` of ``world_size`` takes."""
    return list(range(rank, n, world_size))

