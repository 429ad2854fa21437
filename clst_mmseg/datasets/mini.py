"""The built-in "mini" two-domain segmentation task.

A procedurally generated UDA task that needs no download. Street-like scenes
are drawn from one scene-layout prior (sky on top, a road in perspective at
the bottom, sidewalks beside it, buildings and trees on the horizon, poles,
cars, and clutter blobs in random colours that carry the label of the region
they sit on) and rendered in two styles:

- source ("synthetic"): flat colours, sharp edges, GTA5 layout;
- target ("real"): a systematic shift of the class palette, photo textures
  and photo backgrounds taken from the sample data shipped with matplotlib
  (a runtime requirement of mmseg), lighting and colour casts, shadows, blur
  and noise, Cityscapes layout.

Each target image draws its own shift severity in [0, 1], so the target holds
easy (source-like) and hard images; a uniformly hard target made
self-training collapse in the prototype.

The data set depends only on its seed (the task is the same for all training
seeds). :func:`ensure_mini` generates it once into a cache folder, atomically.
Labels are mini train ids ``0..len(MINI_CLASSES)-1`` (255 = ignore, unused
here); the classes are a subset of Cityscapes' and take their names and
colours from cityscapesscripts' label table.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .generated_cache import (cache_parent, ensure_class_stats,
                              ensure_generated)
from .generated_layout import check_size_and_counts, generation_cli, write_task

MINI_VERSION = 'v2'
MARKER = 'MINI_COMPLETE.json'

# Cityscapes trainIds of the mini classes, in mini train-id order.
MINI_CS_TRAIN_IDS = (0, 1, 2, 5, 8, 10, 13)


def _cs_classes() -> Tuple[tuple, list]:
    from cityscapesscripts.helpers.labels import trainId2label
    labels = [trainId2label[t] for t in MINI_CS_TRAIN_IDS]
    return (tuple(lb.name for lb in labels),
            [list(lb.color) for lb in labels])


MINI_CLASSES, MINI_PALETTE = _cs_classes()
ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, CAR = range(7)
NUM_CLASSES = len(MINI_CLASSES)

DEFAULT_COUNTS = dict(n_source=1000, n_target_train=500, n_target_val=200,
                      n_source_val=100)
DEFAULT_SIZE = (64, 64)

# Appearance knobs (RGB). Changing any of them changes the task: bump
# MINI_VERSION so that old caches are not reused.
# Source palette per class for the "region" role.
_SRC_COLOURS = {
    ROAD: (95, 95, 100),
    SIDEWALK: (175, 150, 165),
    BUILDING: (150, 105, 85),
    POLE: (70, 70, 75),
    VEGETATION: (60, 140, 55),
    SKY: (110, 170, 235),
}
# Target palette at full severity: a systematic shift per class.
_TGT_COLOURS = {
    ROAD: (150, 135, 115),
    SIDEWALK: (105, 105, 110),
    BUILDING: (120, 140, 160),
    POLE: (175, 170, 160),
    VEGETATION: (110, 120, 50),
    SKY: (215, 215, 220),
}
_CAR_COLOURS = ((200, 30, 30), (30, 60, 180), (235, 235, 235), (30, 30, 30),
                (160, 160, 170), (220, 200, 40), (40, 120, 60))
_ROLE_COLOURS = {
    'window': (55, 65, 90),
    'lit_window': (220, 200, 120),
    'car_window': (45, 55, 75),
    'wheel': (25, 25, 25),
    'marking': (235, 235, 230),
}
_SRC_JITTER = 8.0
# Palette shift reached at severity s: min(1, s * _SHIFT_GAIN).
_SHIFT_GAIN = 1.5


# ---------------------------------------------------------------- textures
class _TextureBank:
    """Photo textures from images that ship inside matplotlib.

    Grey-level high-pass textures (zero mean, unit std) for modulating flat
    regions, and colour photo crops for photo backgrounds and posters.
    """

    def __init__(self):
        try:
            self._load()
        except (OSError, KeyError, ValueError, AttributeError) as e:
            raise FileNotFoundError(
                'mini: needs the sample images of matplotlib '
                f'(mpl-data/sample_data): {e}') from e

    def _load(self):
        from matplotlib import cbook
        grey_srcs = []
        hopper = cv2.imread(
            cbook.get_sample_data('grace_hopper.jpg', asfileobj=False),
            cv2.IMREAD_COLOR)
        if hopper is None:
            raise FileNotFoundError(
                'mini: cannot read matplotlib sample image grace_hopper.jpg')
        hopper = hopper[:, :, ::-1].astype(np.float32)
        grey_srcs.append(hopper.mean(axis=2))
        dem = np.load(cbook.get_sample_data('jacksboro_fault_dem.npz',
                                            asfileobj=False))['elevation']
        grey_srcs.append(dem.astype(np.float32))
        topo = np.load(cbook.get_sample_data('topobathy.npz',
                                             asfileobj=False))['topo']
        grey_srcs.append(cv2.resize(topo.astype(np.float32), (240, 182)))
        with cbook.get_sample_data('s1045.ima.gz') as f:
            mri = np.frombuffer(f.read(), np.uint16).reshape(256, 256)
        grey_srcs.append(mri.astype(np.float32))

        self.grey: List[np.ndarray] = []
        for src in grey_srcs:
            for scale in (0.35, 0.6, 1.0):
                img = cv2.resize(src, None, fx=scale, fy=scale,
                                 interpolation=cv2.INTER_AREA)
                if min(img.shape) < 80:
                    continue
                hp = img - cv2.GaussianBlur(img, (0, 0), 6)
                hp = (hp - hp.mean()) / (hp.std() + 1e-6)
                self.grey.append(np.clip(hp, -3, 3).astype(np.float32))

        self.photos: List[np.ndarray] = []
        for scale in (0.15, 0.25, 0.4):
            self.photos.append(cv2.resize(hopper, None, fx=scale, fy=scale,
                                          interpolation=cv2.INTER_AREA))
        self.posters: List[np.ndarray] = []
        for name in ('Minduka_Present_Blue_Pack.png', 'logo2.png'):
            rgba = cv2.imread(cbook.get_sample_data(name, asfileobj=False),
                              cv2.IMREAD_UNCHANGED)
            rgb = rgba[:, :, 2::-1].astype(np.float32)
            if rgba.shape[2] == 4:
                a = rgba[:, :, 3:].astype(np.float32) / 255
                rgb = rgb * a + 255 * (1 - a)
            self.posters.append(rgb)

    @staticmethod
    def _crop(rng, src: np.ndarray, h: int, w: int) -> np.ndarray:
        if src.shape[0] < h or src.shape[1] < w:
            src = cv2.resize(src, (max(w, src.shape[1]), max(h, src.shape[0])))
        y = rng.integers(0, src.shape[0] - h + 1)
        x = rng.integers(0, src.shape[1] - w + 1)
        out = src[y:y + h, x:x + w]
        return out[:, ::-1] if rng.random() < 0.5 else out

    def grey_crop(self, rng, h, w):
        return self._crop(rng, self.grey[rng.integers(len(self.grey))], h, w)

    def photo_crop(self, rng, h, w):
        return self._crop(rng, self.photos[rng.integers(len(self.photos))], h,
                          w)

    def poster(self, rng, h, w):
        src = self.posters[rng.integers(len(self.posters))]
        return cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA)


_BANK: Optional[_TextureBank] = None


def _bank() -> _TextureBank:
    global _BANK
    if _BANK is None:
        _BANK = _TextureBank()
    return _BANK


# ------------------------------------------------------------------ layout
class _Canvas:
    """Label map plus an instance map; each painted part is one instance."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.label = np.zeros((h, w), np.uint8)
        self.inst = np.zeros((h, w), np.int32)
        self.parts: List[Dict] = []

    def paint(self, mask: np.ndarray, cls: int, role: str = 'region',
              **extra) -> None:
        if not mask.any():
            return
        self.parts.append(dict(cls=cls, role=role, **extra))
        self.label[mask] = cls
        self.inst[mask] = len(self.parts) - 1

    def ellipse(self, cy, cx, ry, rx):
        return ((self.yy - cy) / max(ry, 0.5))**2 + (
            (self.xx - cx) / max(rx, 0.5))**2 <= 1

    def rect(self, y0, y1, x0, x1):
        return ((self.yy >= y0) & (self.yy < y1) & (self.xx >= x0)
                & (self.xx < x1))


def _layout(rng: np.random.Generator, h: int, w: int) -> _Canvas:
    """Draw one street scene's geometry from the scene-layout prior."""
    c = _Canvas(h, w)
    yy, xx = c.yy, c.xx
    horizon = h * rng.uniform(0.35, 0.55)
    c.paint(yy < horizon, SKY)
    for _ in range(rng.integers(0, 3)):  # clouds: part of the sky
        cy, cx = rng.uniform(0, horizon * 0.7), rng.uniform(0, w)
        c.paint(c.ellipse(cy, cx, h * rng.uniform(0.03, 0.07),
                          w * rng.uniform(0.08, 0.2)) & (c.label == SKY),
                SKY, 'cloud')
    c.paint(yy >= horizon, SIDEWALK)

    # Road: a trapezoid towards a vanishing point just above the horizon.
    vy = horizon - 0.12 * h
    vx = w * rng.uniform(0.3, 0.7)
    bl, br = w * rng.uniform(-0.5, 0.25), w * rng.uniform(0.75, 1.5)
    t = np.clip((yy - vy) / (h - vy), 0, None)
    left, right = vx + (bl - vx) * t, vx + (br - vx) * t
    c.paint((yy >= horizon) & (xx >= left) & (xx <= right), ROAD)
    if rng.random() < 0.7:  # dashed centre line
        mid = vx + ((bl + br) / 2 - vx) * t
        period = rng.uniform(4, 8)
        dash = np.floor(np.sqrt(np.maximum(yy - vy, 0)) * period / 2) % 2 == 0
        c.paint((yy >= horizon + 2) & (np.abs(xx - mid) <= 0.2 + 1.2 * t)
                & dash & (c.label == ROAD), ROAD, 'marking')

    # Skyline: buildings, trees and gaps standing on the horizon.
    x = -rng.uniform(0, 0.2) * w
    while x < w:
        seg = w * rng.uniform(0.15, 0.45)
        kind = rng.choice(3, p=(0.5, 0.35, 0.15))
        base = horizon + rng.uniform(0, 3)
        if kind == 0:
            top = max(horizon - h * rng.uniform(0.12, 0.45), 0)
            c.paint(c.rect(top, base, x, x + seg), BUILDING)
            if rng.random() < 0.7:
                step = rng.uniform(3.5, 6)
                wy = ((yy - top) % step < step * 0.5) & (yy > top + 1)
                wx = ((xx - x) % step < step * 0.5) & (xx > x + 1)
                win = c.rect(top, base - 2, x, x + seg - 1) & wy & wx
                c.paint(win, BUILDING,
                        'lit_window' if rng.random() < 0.3 else 'window')
        elif kind == 1:
            mask = np.zeros((h, w), bool)
            for _ in range(rng.integers(2, 5)):
                mask |= c.ellipse(horizon - h * rng.uniform(0.08, 0.3),
                                  x + seg * rng.uniform(0.1, 0.9),
                                  h * rng.uniform(0.06, 0.16),
                                  seg * rng.uniform(0.25, 0.55))
            trunk_x = x + seg * rng.uniform(0.3, 0.7)
            mask |= c.rect(horizon - h * 0.1, base, trunk_x - 1, trunk_x + 1)
            c.paint(mask & (yy < base), VEGETATION)
        x += seg
    if rng.random() < 0.5:  # bushes / verge beside the road
        side = rng.choice((-1, 1))
        edge = left if side < 0 else right
        verge = (c.label == SIDEWALK) & ((xx - edge) * side > w * rng.uniform(
            0.05, 0.3)) & (yy > horizon + rng.uniform(0, 0.2) * h)
        c.paint(verge, VEGETATION)

    # Clutter: blobs in random colours that keep the label below them
    # (without them the source model calls every coloured blob a car).
    for _ in range(rng.integers(2, 8)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        under = int(c.label[int(cy), int(cx)])
        r = rng.uniform(1.5, 5) * h / 64
        shape = (c.ellipse(cy, cx, r, r * rng.uniform(0.6, 1.6))
                 if rng.random() < 0.5 else c.rect(
                     cy - r, cy + r, cx - r * rng.uniform(0.5, 1.5),
                     cx + r * rng.uniform(0.5, 1.5)))
        c.paint(shape & (c.label == under), under, 'clutter')

    # Poles on the sidewalk, taller when nearer.
    for _ in range(rng.choice(4, p=(0.25, 0.35, 0.25, 0.15))):
        yb = horizon + rng.uniform(0.1, 0.9) * (h - horizon)
        tb = (yb - vy) / (h - vy)
        lft, rgt = vx + (bl - vx) * tb, vx + (br - vx) * tb
        sides = [(lo, hi) for lo, hi in ((0, lft - 1), (rgt + 1, w - 1))
                 if hi - lo >= 1]
        if not sides:
            continue
        px = rng.uniform(*sides[rng.integers(len(sides))])
        pw = max(2.0, round((1 + 2.5 * tb) * w / 64))
        length = (yb - vy) * rng.uniform(1.6, 3.0)
        c.paint(c.rect(yb - length, yb, px, px + pw), POLE)

    # Cars on the road, far ones first so near ones occlude them.
    ybs = np.sort(horizon + rng.uniform(0.12, 1.0, rng.integers(0, 5)) *
                  (h - horizon))
    for yb in ybs:
        tb = (yb - vy) / (h - vy)
        lft, rgt = vx + (bl - vx) * tb, vx + (br - vx) * tb
        cw = tb * w * rng.uniform(0.35, 0.55)
        chh = cw * rng.uniform(0.4, 0.55)
        cx = rng.uniform(lft + cw / 2, max(rgt - cw / 2, lft + cw / 2 + 1))
        x0, x1 = cx - cw / 2, cx + cw / 2
        body = c.rect(yb - chh * 0.6, yb - chh * 0.1, x0, x1)
        cabin = c.rect(yb - chh, yb - chh * 0.55, x0 + cw * 0.18,
                       x1 - cw * 0.18)
        colour = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))]
        c.paint(body | cabin, CAR, 'car', colour=colour)
        c.paint(c.rect(yb - chh * 0.92, yb - chh * 0.6, x0 + cw * 0.25,
                       x1 - cw * 0.25), CAR, 'car_window')
        for wx in (x0 + cw * 0.22, x1 - cw * 0.22):
            c.paint(c.ellipse(yb - chh * 0.12, wx, chh * 0.14, cw * 0.1), CAR,
                    'wheel')
    return c


# -------------------------------------------------------------- appearance
def _base_colour(rng, part: Dict, severity: Optional[float]) -> np.ndarray:
    """Flat colour of one part; severity None means the source style."""
    role, cls = part['role'], part['cls']
    if role == 'clutter':
        return rng.uniform(0, 255, 3)
    if role == 'car':
        base = np.array(part['colour'], np.float64)
        if severity is not None:  # real cars: duller and darker
            base += 0.6 * min(1.0, severity * _SHIFT_GAIN) * (
                0.6 * base.mean() - base)
    elif role in _ROLE_COLOURS:
        base = np.array(_ROLE_COLOURS[role], np.float64)
    elif role == 'cloud':
        base = np.array((235, 240, 245), np.float64)
    else:
        base = np.array(_SRC_COLOURS[cls], np.float64)
        if severity is not None:
            base += min(1.0, severity * _SHIFT_GAIN) * (
                np.array(_TGT_COLOURS[cls]) - base)
    return base + rng.normal(0, _SRC_JITTER, 3)


def _render_source(rng, c: _Canvas) -> np.ndarray:
    colours = np.stack([_base_colour(rng, p, None) for p in c.parts])
    return np.clip(colours[c.inst], 0, 255).astype(np.uint8)


def _render_target(rng, c: _Canvas, severity: float) -> np.ndarray:
    h, w = c.h, c.w
    bank = _bank()
    s = severity
    colours = np.stack([_base_colour(rng, p, s) for p in c.parts])
    img = colours[c.inst].astype(np.float32)

    for k, part in enumerate(c.parts):
        mask = c.inst == k
        if not mask.any():  # fully occluded by a later part
            continue
        if part['role'] == 'clutter' and rng.random() < 0.5:
            ys, xs = np.nonzero(mask)
            y0, x0 = ys.min(), xs.min()
            ph, pw = ys.max() - y0 + 1, xs.max() - x0 + 1
            poster = bank.poster(rng, ph, pw)
            img[mask] = poster[ys - y0, xs - x0]
            continue
        if part['role'] == 'region' and part['cls'] in (
                BUILDING, SIDEWALK, VEGETATION) and rng.random() < 0.6 * s:
            # Photo background: a photo crop tinted to the region colour.
            photo = bank.photo_crop(rng, h, w)
            rel = photo[mask] / (photo[mask].mean(0) + 1)
            beta = s * rng.uniform(0.4, 0.9)
            img[mask] *= 1 + beta * (rel - 1)
        if part['role'] in ('region', 'car', 'cloud'):
            amp = s * rng.uniform(10, 35)
            img[mask] += amp * bank.grey_crop(rng, h, w)[mask][:, None]

    # Sky brightens towards the horizon.
    sky = c.label == SKY
    img[sky] += (s * rng.uniform(0, 40) * c.yy[sky] / h)[:, None]
    # Shadows: dark blobs on the ground (softened by the blur below).
    for _ in range(rng.integers(0, 3)):
        blob = c.ellipse(rng.uniform(h * 0.5, h), rng.uniform(0, w),
                         h * rng.uniform(0.05, 0.2), w * rng.uniform(0.1, 0.4))
        img[blob] *= 1 - s * rng.uniform(0.2, 0.5)
    # Global lighting: gain, colour cast, a linear illumination ramp, gamma.
    gain = np.exp(s * rng.normal(0, 0.2))
    cast = 1 + s * rng.normal(0, 0.08, 3)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = 1 + s * rng.uniform(0, 0.3) * (
        np.cos(ang) * (c.xx / w - 0.5) + np.sin(ang) * (c.yy / h - 0.5))
    img = img * gain * cast[None, None, :] * ramp[:, :, None]
    gamma = np.exp(s * rng.normal(0, 0.2))
    img = 255 * (np.clip(img, 0, 255) / 255)**gamma
    sigma = s * rng.uniform(0.3, 1.2)
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.normal(0, s * 10 + 1, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _rng(seed: int, domain: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, domain, index])


def render_sample(seed: int, domain: str, index: int,
                  size: Tuple[int, int] = DEFAULT_SIZE
                  ) -> Tuple[np.ndarray, np.ndarray, float]:
    """Render one sample.

    Args:
        seed (int): Data set seed.
        domain (str): 'source', 'target_train', 'target_val' or
            'source_val' (held-out labelled source images, never trained
            on: the source-val criterion of model selection).
        index (int): Sample index within the split.
        size (tuple[int, int]): Image size (H, W).

    Returns:
        tuple: RGB image (H, W, 3) uint8, label (H, W) uint8 and the shift
        severity (0 for the source).
    """
    codes = dict(source=0, target_train=1, target_val=2, source_val=3)
    if domain not in codes:
        raise ValueError(f'mini: domain must be one of {sorted(codes)}, '
                         f'got {domain!r}')
    rng = _rng(seed, codes[domain], index)
    canvas = _layout(rng, *size)
    if domain in ('source', 'source_val'):
        return _render_source(rng, canvas), canvas.label, 0.0
    severity = float(rng.uniform(0, 1))
    return _render_target(rng, canvas, severity), canvas.label, severity


# ---------------------------------------------------------------- writing
def generate_mini(root: str, seed: int = 0,
                  n_source: int = DEFAULT_COUNTS['n_source'],
                  n_target_train: int = DEFAULT_COUNTS['n_target_train'],
                  n_target_val: int = DEFAULT_COUNTS['n_target_val'],
                  n_source_val: int = DEFAULT_COUNTS['n_source_val'],
                  size: Sequence[int] = DEFAULT_SIZE) -> str:
    """Generate the mini task into ``root`` (not atomic; see ensure_mini).

    Layout: ``root/source/{images,labels}`` (GTA5 layout, labels written
    directly as ``*_labelTrainIds.png``), the held-out source slice
    ``root/source_val/{images,labels}`` (same layout) and
    ``root/target/{leftImg8bit,gtFine}/{train,val}/mini`` (Cityscapes layout).

    Args:
        root (str): Output folder.
        seed (int): Data set seed; same seed gives identical files.
        n_source (int): Number of source images.
        n_target_train (int): Number of target training images.
        n_target_val (int): Number of target validation images.
        n_source_val (int): Number of held-out source images.
        size (Sequence[int]): Image size (H, W).

    Returns:
        str: ``root``.
    """
    counts = dict(n_source=n_source, n_target_train=n_target_train,
                  n_target_val=n_target_val, n_source_val=n_source_val)
    size = check_size_and_counts('mini', size, counts)
    return write_task(
        root, 'mini', lambda domain, i: render_sample(seed, domain, i, size),
        counts, 'mini')


def default_root(seed: int = 0) -> str:
    """Cache folder of the mini task for ``seed``.

    ``$CLST_MMSEG_DATA_DIR/mini-<version>-seed<seed>`` if that variable is
    set, else ``~/.cache/clst_mmseg/mini-<version>-seed<seed>``.
    """
    return osp.join(cache_parent(), f'mini-{MINI_VERSION}-seed{seed}')


def ensure_mini(root: Optional[str] = None, seed: int = 0) -> str:
    """Return the mini task's folder, generating it first if needed
    (atomically; see :mod:`.generated_cache`).

    Args:
        root (str, optional): Folder; defaults to :func:`default_root`.
        seed (int): Data set seed.

    Returns:
        str: The folder holding ``source/`` and ``target/``.
    """
    meta = dict(version=MINI_VERSION, seed=int(seed),
                size=list(DEFAULT_SIZE), **DEFAULT_COUNTS)
    root = ensure_generated(
        root or default_root(seed), meta,
        lambda folder: generate_mini(
            folder, seed=seed, size=DEFAULT_SIZE, **DEFAULT_COUNTS),
        'mini', marker=MARKER)
    # the source's class statistics (rare class sampling)
    ensure_class_stats(osp.join(root, 'source'), '_labelTrainIds.png',
                       NUM_CLASSES)
    return root


def main(argv=None) -> None:
    generation_cli('mini', ensure_mini, default_root, argv)


if __name__ == '__main__':
    main()
