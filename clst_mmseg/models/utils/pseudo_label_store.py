"""Per-image pseudo-label maps of a whole target set, kept compressed.

Round-based self-training (CBST) labels every target image once per round
and trains on those labels until the next round. Kept as plain uint8 maps at
the resolution they were selected at, a Cityscapes-sized set is large
(2,975 images x 1024 x 2048 = 6.2 GB); pseudo-label maps are piecewise
constant, so each is kept PNG-encoded instead (lossless, typically a few
tens of KB per Cityscapes image), as CBST's released code keeps them on disk.
Each map lies in the image's own frame (any resolution; the grid covers the
whole image) and is read back in the augmented frame of a training sample
(scale, crop box, flip; nearest cell, see :func:`aug_to_cell_index`).
"""
from typing import List, Optional

import cv2
import numpy as np
import torch
from torch import Tensor

from .ensemble_memory import AugGeometry, aug_to_cell_index


class PseudoLabelStore:
    """PNG-compressed uint8 label maps, one slot per target image.

    Args:
        num_images (int): Number of target images.
        ignore_index (int): Label of unlabelled pixels; also what an empty
            slot reads as. Defaults to 255.
    """

    def __init__(self, num_images: int, ignore_index: int = 255) -> None:
        if num_images < 1:
            raise ValueError('PseudoLabelStore: num_images must be >= 1, got '
                             f'{num_images}')
        self.num_images = int(num_images)
        self.ignore_index = int(ignore_index)
        self._png: List[Optional[np.ndarray]] = [None] * self.num_images

    def _check(self, index: int) -> None:
        if not 0 <= index < self.num_images:
            raise IndexError(f'PseudoLabelStore: image index {index} out of '
                             f'range [0, {self.num_images})')

    @staticmethod
    def encode(labels: Tensor) -> np.ndarray:
        """(h, w) labels in [0, 255] -> PNG bytes (uint8 array)."""
        arr = labels.detach().to('cpu', torch.uint8).numpy()
        ok, buf = cv2.imencode('.png', np.ascontiguousarray(arr))
        if not ok:
            raise RuntimeError('PseudoLabelStore: PNG encoding failed')
        return buf.reshape(-1)

    @staticmethod
    def decode(buf: np.ndarray) -> Tensor:
        """PNG bytes -> (h, w) long labels."""
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        return torch.from_numpy(arr.astype(np.int64))

    def put(self, index: int, labels: Tensor) -> None:
        """Store the (h, w) map of image ``index`` (values 0..255)."""
        self._check(index)
        if labels.dim() != 2:
            raise ValueError('PseudoLabelStore: expected an (h, w) map, got '
                             f'shape {tuple(labels.shape)}')
        if labels.numel() and (int(labels.min()) < 0
                               or int(labels.max()) > 255):
            raise ValueError('PseudoLabelStore: labels must lie in [0, 255]')
        self._png[index] = self.encode(labels)

    def put_encoded(self, index: int, buf: np.ndarray) -> None:
        """Store an already encoded map (e.g. gathered from another rank)."""
        self._check(index)
        self._png[index] = np.asarray(buf, dtype=np.uint8).reshape(-1)

    def encoded(self, index: int) -> Optional[np.ndarray]:
        self._check(index)
        return self._png[index]

    def has(self, index: int) -> bool:
        self._check(index)
        return self._png[index] is not None

    def get(self, index: int) -> Optional[Tensor]:
        """The stored (h, w) map of image ``index`` (long), or None."""
        self._check(index)
        buf = self._png[index]
        return None if buf is None else self.decode(buf)

    def read(self, index: int, geo: AugGeometry) -> Tensor:
        """Image ``index``'s map in the augmented frame ``geo.img_shape``
        (nearest stored cell under every pixel); ``ignore_index``
        everywhere if nothing is stored."""
        labels = self.get(index)
        if labels is None:
            return torch.full(tuple(geo.img_shape), self.ignore_index,
                              dtype=torch.long)
        iy, ix = aug_to_cell_index(geo, tuple(labels.shape))
        return labels[iy, ix]

    def clear(self) -> None:
        self._png = [None] * self.num_images

    @property
    def nbytes(self) -> int:
        """Bytes of the encoded maps."""
        return sum(b.size for b in self._png if b is not None)

    # -- persistence -------------------------------------------------------
    def state_dict(self) -> dict:
        """Plain tensors (loads with ``weights_only=True``): the encoded maps
        concatenated, their offsets, and which slots are filled."""
        present = torch.tensor([b is not None for b in self._png])
        sizes = torch.tensor([0 if b is None else b.size for b in self._png],
                             dtype=torch.long)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long),
                             sizes.cumsum(0)])
        data = (np.concatenate([b for b in self._png if b is not None])
                if bool(present.any()) else np.zeros(0, np.uint8))
        return dict(data=torch.from_numpy(data.copy()), offsets=offsets,
                    present=present, ignore_index=self.ignore_index)

    def load_state_dict(self, state: dict) -> None:
        present = state['present']
        if present.numel() != self.num_images:
            raise ValueError(
                'pseudo-labels in the checkpoint do not fit this run: '
                f'{present.numel()} target images stored, the target set has '
                f'{self.num_images}')
        data = state['data'].numpy()
        offsets = state['offsets'].tolist()
        self.ignore_index = int(state.get('ignore_index', self.ignore_index))
        self._png = [
            data[offsets[i]:offsets[i + 1]].copy() if bool(present[i])
            else None for i in range(self.num_images)
        ]
