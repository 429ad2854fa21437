"""Compact per-image temporal ensemble of target predictions (CLST).

Pure tensor code, no mmengine: the geometry that maps a target image's own
frame to the augmented frame the network saw (and back), and the memory that
keeps, for every target image, an exponential moving average of the network's
predictions in the image's own frame.

Compact state. A full float softmax map per image (19 classes x 4 bytes) is
far too large for a Cityscapes-sized set, so each stored pixel keeps only its
ensemble's top class ``k`` and that class's probability ``p``, packed into
one int16 (2 bytes): ``code = round(p * L) * C + k`` with ``L`` quantisation
levels (``L = (32767 - C + 1) // C``, 1723 for 19 classes), and 0 meaning
"never predicted". The state *represents* the distribution that puts ``p`` on
``k`` and spreads ``1 - p`` evenly over the other classes (the maximum-entropy
completion of what is stored); an update is the exact EMA of that
distribution with the new prediction, re-encoded. Pseudo-labels are read
from that distribution in each image's augmented frame at input resolution,
interpolated as the self-training baseline interpolates its network's output
(bilinear on the logits: here the log of the represented distribution).

Geometry conventions: pixel centres (cv2/mmcv resizing), the augmentations
are resize -> crop -> flip in this order (mmseg's usual pipelines; the crop
box is the one ``RecordedRandomCrop`` records, in resized coordinates), and
the network's output covers the padded input with ``align_corners=False``
semantics.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

_FLIP_CODES = {None: 0, 'horizontal': 1, 'vertical': 2, 'diagonal': 3}
_FLIP_NAMES = {v: k for k, v in _FLIP_CODES.items()}


@dataclass(frozen=True)
class AugGeometry:
    """What a target pipeline did to one image.

    Args:
        ori_shape (tuple[int, int]): (H0, W0) of the image as loaded (its own
            frame).
        scale (tuple[float, float]): (sy, sx) of the resize (1 if none).
        crop (tuple[int, int]): (y1, x1) of the crop box in resized
            coordinates ((0, 0) if none).
        img_shape (tuple[int, int]): (H, W) of the augmented image.
        flip (str, optional): None, 'horizontal', 'vertical' or 'diagonal'.
    """
    ori_shape: Tuple[int, int]
    scale: Tuple[float, float]
    crop: Tuple[int, int]
    img_shape: Tuple[int, int]
    flip: Optional[str] = None

    @classmethod
    def from_meta(cls, meta: dict) -> 'AugGeometry':
        """Read the geometry from a target sample's meta information
        (``ori_shape``, ``img_shape``, optional ``scale_factor`` (w, h),
        ``crop_bbox`` (y1, y2, x1, x2), ``flip``, ``flip_direction``)."""
        for key in ('ori_shape', 'img_shape'):
            if key not in meta:
                raise KeyError(
                    f'target sample meta information lacks {key!r}: the '
                    'target pipeline must end with PackUDAInputs')
        sf = meta.get('scale_factor') or (1.0, 1.0)
        if not isinstance(sf, (tuple, list)):
            sf = (float(sf), float(sf))
        box = meta.get('crop_bbox') or (0, 0, 0, 0)
        flip = meta.get('flip_direction') if meta.get('flip') else None
        if flip not in _FLIP_CODES:
            raise ValueError(f'unknown flip_direction {flip!r}; expected '
                             'horizontal, vertical or diagonal')
        return cls(ori_shape=tuple(int(v) for v in meta['ori_shape'][:2]),
                   scale=(float(sf[1]), float(sf[0])),
                   crop=(int(box[0]), int(box[2])),
                   img_shape=tuple(int(v) for v in meta['img_shape'][:2]),
                   flip=flip)

    def to_tensor(self) -> Tensor:
        """Float64 vector of 9 numbers (for all-gathering across ranks)."""
        return torch.tensor([
            *self.ori_shape, *self.scale, *self.crop, *self.img_shape,
            _FLIP_CODES[self.flip]
        ], dtype=torch.float64)

    @classmethod
    def from_tensor(cls, t: Tensor) -> 'AugGeometry':
        v = t.tolist()
        return cls(ori_shape=(int(v[0]), int(v[1])), scale=(v[2], v[3]),
                   crop=(int(v[4]), int(v[5])),
                   img_shape=(int(v[6]), int(v[7])),
                   flip=_FLIP_NAMES[int(v[8])])

    def _flips(self) -> Tuple[bool, bool]:
        return (self.flip in ('vertical', 'diagonal'),
                self.flip in ('horizontal', 'diagonal'))

    def image_to_aug(self, y: Tensor, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Continuous pixel coordinates in the image's own frame ->
        coordinates in the augmented frame."""
        ys = (y + 0.5) * self.scale[0] - 0.5 - self.crop[0]
        xs = (x + 0.5) * self.scale[1] - 0.5 - self.crop[1]
        fy, fx = self._flips()
        if fy:
            ys = self.img_shape[0] - 1 - ys
        if fx:
            xs = self.img_shape[1] - 1 - xs
        return ys, xs

    def aug_to_image(self, y: Tensor, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Inverse of :meth:`image_to_aug`."""
        fy, fx = self._flips()
        if fy:
            y = self.img_shape[0] - 1 - y
        if fx:
            x = self.img_shape[1] - 1 - x
        return ((y + self.crop[0] + 0.5) / self.scale[0] - 0.5,
                (x + self.crop[1] + 0.5) / self.scale[1] - 0.5)


def _cell_centres(shape: Sequence[int], size: Sequence[int],
                  dtype=torch.float64) -> Tuple[Tensor, Tensor]:
    """Centres of a (h, w) memory grid in image pixel coordinates of an
    image of ``shape`` (H0, W0); returns (h, w) grids."""
    (h0, w0), (h, w) = shape, size
    cy = (torch.arange(h, dtype=dtype) + 0.5) * (h0 / h) - 0.5
    cx = (torch.arange(w, dtype=dtype) + 0.5) * (w0 / w) - 0.5
    return torch.meshgrid(cy, cx, indexing='ij')


def image_to_aug_grid(geo: AugGeometry, size: Sequence[int],
                      input_shape: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Where each memory cell of an image lies in the network's input.

    Args:
        geo (AugGeometry): The image's augmentation.
        size (Sequence[int]): (h, w) of the memory grid.
        input_shape (Sequence[int]): (H, W) of the (padded) network input
            whose prediction is sampled.

    Returns:
        tuple[Tensor, Tensor]: ``grid`` (h, w, 2) float32 in
        ``F.grid_sample`` coordinates (x, y in [-1, 1],
        ``align_corners=False``) and ``valid`` (h, w) bool, True for cells
        whose centre falls inside the augmented image.
    """
    ys, xs = geo.image_to_aug(*_cell_centres(geo.ori_shape, size))
    hc, wc = geo.img_shape
    valid = (ys >= -0.5) & (ys < hc - 0.5) & (xs >= -0.5) & (xs < wc - 0.5)
    gy = 2 * (ys + 0.5) / input_shape[0] - 1
    gx = 2 * (xs + 0.5) / input_shape[1] - 1
    return torch.stack([gx, gy], dim=-1).float(), valid


def aug_to_memory_grid(geos: Sequence[AugGeometry],
                       shape: Sequence[int]) -> Tensor:
    """Where every pixel of an augmented frame lies on its image's memory
    grid, for ``F.grid_sample`` (``align_corners=False``).

    A memory grid covers its image's own frame with cells whose centres
    sit at pixel-centre positions (as an ``align_corners=False`` resize of
    the image), so the coordinates do not depend on the grid's size.

    Args:
        geos (Sequence[AugGeometry]): The augmentation of each image.
        shape (Sequence[int]): (H, W) of the frame to fill (at least each
            image's ``img_shape``; pixels beyond it are clamped to the
            border).

    Returns:
        Tensor: (N, H, W, 2) float32, (x, y) in [-1, 1].
    """
    h, w = int(shape[0]), int(shape[1])
    y = torch.arange(h, dtype=torch.float64)
    x = torch.arange(w, dtype=torch.float64)
    grids = []
    for geo in geos:
        y0, x0 = geo.aug_to_image(y, x)  # separable: rows and columns
        gy = 2 * (y0 + 0.5) / geo.ori_shape[0] - 1
        gx = 2 * (x0 + 0.5) / geo.ori_shape[1] - 1
        grids.append(torch.stack([gx.view(1, w).expand(h, w),
                                  gy.view(h, 1).expand(h, w)], dim=-1))
    return torch.stack(grids).float()


def aug_to_cell_index(geo: AugGeometry,
                      size: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """The cell (nearest, by containment) under every pixel of the
    augmented image, for integer maps kept per image (CBST's label store);
    the ensemble's pseudo-labels interpolate instead
    (:func:`aug_to_memory_grid`).

    The mapping is separable, so it is returned as broadcastable index
    vectors: ``cells[iy, ix]`` gives an (H, W) map, (H, W) being
    ``geo.img_shape``.

    Returns:
        tuple[Tensor, Tensor]: Row indices (H, 1) and column indices
        (1, W), long.
    """
    hc, wc = geo.img_shape
    y0, x0 = geo.aug_to_image(torch.arange(hc, dtype=torch.float64),
                              torch.arange(wc, dtype=torch.float64))
    (h0, w0), (h, w) = geo.ori_shape, size
    iy = torch.floor((y0 + 0.5) * (h / h0)).long().clamp_(0, h - 1)
    ix = torch.floor((x0 + 0.5) * (w / w0)).long().clamp_(0, w - 1)
    return iy.view(-1, 1), ix.view(1, -1)


def sample_prediction(probs: Tensor, geo: AugGeometry, size: Sequence[int],
                      input_shape: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Resample one prediction of the augmented input onto the image's
    memory grid (bilinear on probabilities).

    Args:
        probs (Tensor): (C, h_out, w_out) class probabilities covering the
            padded network input of ``input_shape``.
        geo (AugGeometry): The augmentation of the image.
        size (Sequence[int]): (h, w) of the memory grid.
        input_shape (Sequence[int]): (H, W) of the padded network input.

    Returns:
        tuple[Tensor, Tensor]: (C, h, w) probabilities (dtype of ``probs``)
        and (h, w) bool validity.
    """
    grid, valid = image_to_aug_grid(geo, size, input_shape)
    out = F.grid_sample(probs[None], grid[None].to(probs), mode='bilinear',
                        padding_mode='border', align_corners=False)[0]
    return out, valid


class CompactEnsembleMemory:
    """Per-image EMA of class probabilities, 2 bytes per stored pixel.

    Args:
        num_images (int): Number of target images.
        size (Sequence[int]): (h, w) grid kept per image (in the image's own
            frame, normally the network's output resolution).
        num_classes (int): Number of classes (2 .. 16384).
        momentum (float): Weight of the old ensemble in each update, in
            [0, 1): ``Z <- momentum * Z + (1 - momentum) * prediction``. A
            pixel's first prediction initialises it.
        filename (str, optional): Keep the codes in a memory-mapped file
            (created, zero-filled) instead of RAM.
    """

    def __init__(self,
                 num_images: int,
                 size: Sequence[int],
                 num_classes: int,
                 momentum: float,
                 filename: Optional[str] = None) -> None:
        if not 2 <= num_classes <= 16384:
            raise ValueError('CompactEnsembleMemory: num_classes must be in '
                             f'[2, 16384], got {num_classes}')
        if not 0 <= momentum < 1:
            raise ValueError('CompactEnsembleMemory: momentum must be in '
                             f'[0, 1), got {momentum}')
        if len(size) != 2 or min(size) < 1:
            raise ValueError('CompactEnsembleMemory: size must be (h, w) '
                             f'with h, w >= 1, got {size}')
        self.num_images = int(num_images)
        self.size = (int(size[0]), int(size[1]))
        self.num_classes = int(num_classes)
        self.momentum = float(momentum)
        self.levels = (32767 - (self.num_classes - 1)) // self.num_classes
        self.filename = filename
        numel = self.num_images * self.size[0] * self.size[1]
        if filename is None:
            self.codes = torch.zeros(self.num_images, *self.size,
                                     dtype=torch.int16)
        else:
            with open(filename, 'wb') as f:
                f.truncate(numel * 2)
            self.codes = torch.from_file(
                filename, shared=True, size=numel,
                dtype=torch.int16).view(self.num_images, *self.size)

    # -- encoding ----------------------------------------------------------
    def encode(self, labels: Tensor, conf: Tensor) -> Tensor:
        """(class, probability) -> int16 code (never 0 for a real pixel)."""
        q = torch.round(conf.double() * self.levels).long().clamp_(
            1, self.levels)
        return (q * self.num_classes + labels.long()).to(torch.int16)

    def decode(self, codes: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """int16 codes -> (labels long, confidences float32, stored bool);
        unstored pixels read as label 0, confidence 0."""
        c = codes.long()
        q = c // self.num_classes
        return (c % self.num_classes, q.float() / self.levels, q > 0)

    def represented(self, codes: Tensor) -> Tensor:
        """The float64 distributions the codes stand for, (C, ...) (zeros
        where nothing is stored)."""
        labels, conf, stored = self.decode(codes)
        conf = conf.double()
        rest = (1 - conf) / (self.num_classes - 1)
        dist = rest.unsqueeze(0).repeat(self.num_classes,
                                         *([1] * codes.dim()))
        dist.scatter_(0, labels.unsqueeze(0), conf.unsqueeze(0))
        return dist * stored.unsqueeze(0)

    def log_distribution(self, codes: Tensor,
                         floor: float = 1e-12) -> Tuple[Tensor, Tensor]:
        """Log of the distributions the codes stand for (``p`` on the top
        class, ``(1 - p) / (C - 1)`` on each other one; probabilities
        floored at ``floor``), uniform where nothing is stored.

        Args:
            codes (Tensor): (N, h, w) int16 codes, on any device.
            floor (float): Smallest probability (keeps the log finite; at
                1e-12 a confidence of 1 still reads back as 1 in float32).

        Returns:
            tuple[Tensor, Tensor]: (N, C, h, w) float32 log-probabilities
            and (N, h, w) bool ``stored``.
        """
        labels, conf, stored = self.decode(codes)
        c = self.num_classes
        rest = ((1 - conf) / (c - 1)).clamp_min(floor).log()
        out = rest.unsqueeze(1).repeat(1, c, 1, 1)
        out.scatter_(1, labels.unsqueeze(1),
                     conf.clamp_min(floor).log().unsqueeze(1))
        out = torch.where(stored.unsqueeze(1), out,
                          out.new_full((), -math.log(c)))
        return out, stored

    def read_in_aug_frame(self, indices: Sequence[int],
                          geos: Sequence[AugGeometry], shape: Sequence[int],
                          device=None) -> Tuple[Tensor, Tensor]:
        """The ensemble of a batch of images in their augmented frames at
        input resolution, interpolated as :class:`SelfTraining`
        interpolates its network's output: the represented distributions
        are resampled bilinearly as log-probabilities (i.e. as logits, up
        to a per-cell constant that the softmax removes) and
        soft-maxed. With an identity augmentation this is exactly
        ``resize(logits, input size, 'bilinear')`` followed by a softmax.

        Args:
            indices (Sequence[int]): Image indices.
            geos (Sequence[AugGeometry]): Their augmentations.
            shape (Sequence[int]): (H, W) of the frame (the batch input).
            device (torch.device, optional): Where to compute (the model's
                device); defaults to the memory's.

        Returns:
            tuple[Tensor, Tensor]: (N, C, H, W) float32 probabilities and
            (N, H, W) bool ``stored`` (every cell the pixel is interpolated
            from holds a prediction).
        """
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.num_images):
            raise IndexError('CompactEnsembleMemory: image index out of '
                             f'range [0, {self.num_images})')
        codes = self.codes[idx].to(device)
        logp, stored = self.log_distribution(codes)
        grid = aug_to_memory_grid(geos, shape).to(logp.device)
        probs = F.grid_sample(logp, grid, mode='bilinear',
                              padding_mode='border',
                              align_corners=False).softmax(1)
        full = F.grid_sample(stored.unsqueeze(1).float(), grid,
                             mode='bilinear', padding_mode='border',
                             align_corners=False)[:, 0] > 1 - 1e-4
        return probs, full

    # -- update / read-out -------------------------------------------------
    def update(self, index: int, probs: Tensor,
               valid: Optional[Tensor] = None) -> None:
        """Fold one prediction of image ``index`` (in its own frame) in.

        Args:
            index (int): Image index in the target dataset.
            probs (Tensor): (C, h, w) class probabilities on the memory grid.
            valid (Tensor, optional): (h, w) bool; only these cells change.
        """
        if not 0 <= index < self.num_images:
            raise IndexError(f'CompactEnsembleMemory: image index {index} '
                             f'out of range [0, {self.num_images})')
        if tuple(probs.shape) != (self.num_classes, *self.size):
            raise ValueError(
                'CompactEnsembleMemory: expected probabilities of shape '
                f'{(self.num_classes, *self.size)}, got {tuple(probs.shape)}')
        probs = probs.detach().to('cpu', torch.float32)
        old = self.codes[index]
        labels, conf, stored = self.decode(old)
        a = self.momentum
        rest = (1 - conf) / (self.num_classes - 1)
        z = (1 - a) * probs + a * rest
        z.scatter_add_(0, labels[None], (a * (conf - rest))[None])
        z = torch.where(stored[None], z, probs)
        new_conf, new_labels = z.max(dim=0)
        new = self.encode(new_labels, new_conf)
        if valid is not None:
            new = torch.where(valid.to('cpu'), new, old)
        self.codes[index] = new

    def read(self, index: int) -> Tuple[Tensor, Tensor, Tensor]:
        """(labels, confidences, stored) of one image, each (h, w)."""
        return self.decode(self.codes[index])

    def class_thresholds(self, portion: float,
                         max_threshold: Optional[float] = None,
                         chunk: int = 1 << 22) -> Tensor:
        """Class-balanced (CBST) thresholds over every stored pixel, from
        the histogram of codes (exact: equals
        :func:`class_balanced_thresholds` on the decoded confidences).

        Returns:
            Tensor: (C,) float32; +inf for a class no pixel holds.
        """
        if not 0 < portion <= 1:
            raise ValueError(f'portion must be in (0, 1], got {portion}')
        c, n_codes = self.num_classes, (self.levels + 1) * self.num_classes
        hist = torch.zeros(n_codes, dtype=torch.long)
        flat = self.codes.view(-1)
        for start in range(0, flat.numel(), chunk):
            hist += torch.bincount(flat[start:start + chunk].long(),
                                   minlength=n_codes)
        hist = hist.view(self.levels + 1, c)[1:].flip(0)  # q = L .. 1
        totals = hist.sum(0)
        ranks = (portion * totals.double()).floor().long()
        ranks = torch.minimum(ranks, totals - 1)
        above = hist.cumsum(0)  # pixels with q >= row's level, per class
        row = (above <= ranks[None]).sum(0)  # first row whose count > rank
        q = self.levels - row
        th = q.float() / self.levels
        th[totals == 0] = float('inf')
        if max_threshold is not None:
            th = th.clamp(max=max_threshold)
        return th

    # -- persistence -------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return self.codes.numel() * self.codes.element_size()

    def state_dict(self) -> dict:
        """Plain tensors and numbers (loads with ``weights_only=True``)."""
        return dict(codes=self.codes.clone(), num_classes=self.num_classes,
                    momentum=self.momentum, levels=self.levels)

    def load_state_dict(self, state: dict) -> None:
        codes = state['codes']
        if (tuple(codes.shape) != tuple(self.codes.shape)
                or state.get('num_classes') != self.num_classes
                or state.get('levels') != self.levels):
            raise ValueError(
                'temporal ensemble in the checkpoint does not fit this run: '
                f'codes {tuple(codes.shape)} with {state.get("num_classes")} '
                f'classes, expected {tuple(self.codes.shape)} with '
                f'{self.num_classes} (target set size, memory size or '
                'classes changed)')
        self.codes.copy_(codes)


def bytes_per_pixel() -> int:
    """Bytes the memory stores per pixel (int16 codes)."""
    return 2


def cityscapes_sized_bytes(num_images: int = 2975,
                           size: Sequence[int] = (64, 128)) -> int:
    """Memory of a Cityscapes-sized target set (default: 2975 images kept at
    the output resolution of DeepLabV2 (stride 8) on 1024x512 inputs)."""
    return num_images * int(math.prod(size)) * bytes_per_pixel()
