"""The built-in "aerial" two-domain task: overhead tiles, dense urban summer
RGB → sparse rural winter false colour.

A third procedurally generated UDA task beside :mod:`.mini` and
:mod:`.adverse`, from another generator and another kind of shift, modelled
on the remote-sensing UDA benchmarks (LoveDA urban → rural, ISPRS Potsdam
RGB → Vaihingen IRRG):

- **scenes**: nadir tiles of the ground. Land parcels (a Voronoi partition:
  fields, meadows, lawns, forest, bare soil, yards, courts, car parks,
  railway), water (rivers, ponds, canals), roads (a street grid in towns,
  winding country roads), buildings with gable or flat roofs, trees
  (street trees, forest, hedgerows), cars (parked, driving, in car parks)
  and label-keeping clutter (roof units, playground items). Objects have
  heights and cast shadows from the sun.
- **classes** (``aerial_classes.csv``): background, building, road, water,
  barren, tree, low vegetation, car; 255 marks no-data corners of some
  tiles (both domains).
- **layout shift**: each tile draws an *urbanness* in [0, 1]; the source
  is mostly dense town (many buildings, roads, cars), the target mostly
  countryside (fields, forest, few buildings and cars), with overlap. Class
  priors differ as in LoveDA's urban → rural.
- **appearance shift**, drawn per target tile with a severity in [0, 1]
  (full strength from severity ``1 / _SHIFT_GAIN``; mini's lesson: a
  uniformly hard target makes self-training collapse):

  - *sensor*: every material has a reflectance in four bands (blue, green,
    red, near infrared); the source camera records true colour (R, G, B),
    the target camera's channels take the next band up, to the IRRG false
    colour of Vaihingen (NIR, R, G) at full strength: vegetation turns red
    (like the source's tiled roofs), water black;
  - *season*: summer → winter: deciduous trees lose their leaves, grass
    and crops go dormant, the sun is low (long shadows, less light);
  - *resolution*: the ground sampling distance grows by up to half (cars
    and houses get smaller in pixels) and the optics blur more; more noise.

The on-disk layout is mini's: the source in the GTA5 layout, the target in
the Cityscapes layout (city folder ``aerial``), labels as train ids
``0..len(AERIAL_CLASSES)-1`` and 255. ``target/conditions_{train,val}.csv``
lists each target tile's layout band (urban / suburban / rural), severity,
urbanness and ground sampling distance (diagnostics; no method reads it).
:func:`ensure_aerial` generates the data once into the shared cache folder
(``aerial-<version>-seed<seed>``), atomically.
"""
import csv
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .generated_cache import (cache_parent, ensure_class_stats,
                              ensure_generated)
from .generated_layout import check_size_and_counts, generation_cli, write_task
from .mini import _bank, _Canvas

AERIAL_VERSION = 'v1'
CLASSES_CSV = osp.join(osp.dirname(osp.abspath(__file__)),
                       'aerial_classes.csv')


def load_aerial_classes(path: Optional[str] = None) -> Tuple[tuple, list]:
    """Read the class table of the aerial task.

    Args:
        path (str, optional): CSV with columns ``train_id, name, r, g, b``
            (train ids 0, 1, ... in order); lines starting with ``#`` are
            comments. Defaults to ``aerial_classes.csv`` of the package.

    Returns:
        tuple: Class names (tuple) and palette (list of ``[r, g, b]``).
    """
    path = path or CLASSES_CSV
    with open(path, newline='') as f:
        rows = list(csv.DictReader(
            line for line in f
            if line.strip() and not line.lstrip().startswith('#')))
    names, palette = [], []
    for i, row in enumerate(rows):
        try:
            tid = int(row['train_id'])
            colour = [int(row[c]) for c in 'rgb']
            name = row['name'].strip()
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError(
                f'{path}: row {i + 2} {dict(row)} - expected columns '
                '`train_id, name, r, g, b` with integers') from None
        if tid != i or not name or not all(0 <= c <= 255 for c in colour):
            raise ValueError(
                f'{path}: row {i + 2}: expected train_id {i}, a name and '
                f'colours in 0..255, got {dict(row)}')
        names.append(name)
        palette.append(colour)
    if not names:
        raise ValueError(f'{path}: no classes found')
    return tuple(names), palette


AERIAL_CLASSES, AERIAL_PALETTE = load_aerial_classes()
(BACKGROUND, BUILDING, ROAD, WATER, BARREN, TREE, LOW_VEGETATION,
 CAR) = range(8)
NUM_CLASSES = len(AERIAL_CLASSES)
IGNORE = 255

DEFAULT_COUNTS = dict(n_source=1000, n_target_train=500, n_target_val=200,
                      n_source_val=100)
DEFAULT_SIZE = (64, 64)
CITY = 'aerial'
LAYOUTS = ('rural', 'suburban', 'urban')

# Generator knobs. Changing any of them changes the task: bump
# AERIAL_VERSION so that old caches are not reused.
#: Urbanness of a tile: Beta(a, b) per domain (source: mostly town, target:
#: mostly countryside).
_URBANNESS = dict(source=(3.5, 1.5), target=(1.5, 3.5))
#: The target's shift reaches full strength at severity 1 / _SHIFT_GAIN.
_SHIFT_GAIN = 1.5
#: The camera's band response follows the strength to this power (it
#: changes slowly at first, so that mildly shifted tiles stay close to the
#: source's colours).
_SENSOR_POWER = 3.0
#: Ground sampling distance of the source (m / pixel, +-10 %); the target's
#: camera resolves finer, down to x (1 - _GSD_SHRINK) at full strength
#: (objects larger in pixels: a source model meets cars and houses at
#: scales it rarely saw; at a coarser target GSD cars fall under one output
#: cell of the stride-4 models and nothing, not even the oracle, learns
#: them).
_GSD = 0.5
_GSD_SHRINK = 0.3
#: Sun elevation (degrees): summer noon in the source, winter in the target.
_SUN_SUMMER = (50.0, 70.0)
_SUN_WINTER = (18.0, 28.0)
#: Optics blur (pixels) and read noise (DN), source and added at full shift.
_BLUR = (0.35, 0.3)
_NOISE = (1.5, 3.0)
#: Chance that a tile has a no-data corner (label 255, image 0).
_NODATA_P = 0.04
#: Padding (pixels) around a tile so that objects outside it cast shadows.
_MARGIN = 12

#: Reflectance in four bands (blue, green, red, near infrared); vegetation
#: has a winter spectrum too (leafless, dormant).
_SUMMER = {
    'asphalt': (0.09, 0.10, 0.11, 0.13),
    'gravel': (0.22, 0.25, 0.28, 0.31),
    'marking': (0.55, 0.56, 0.57, 0.55),
    'roof_tile': (0.08, 0.11, 0.32, 0.38),
    'roof_concrete': (0.26, 0.28, 0.30, 0.33),
    'roof_bitumen': (0.07, 0.07, 0.08, 0.09),
    'roof_metal': (0.45, 0.47, 0.48, 0.46),
    'water_clear': (0.07, 0.07, 0.04, 0.01),
    'water_turbid': (0.08, 0.11, 0.09, 0.03),
    'soil': (0.10, 0.14, 0.20, 0.25),
    'sand': (0.28, 0.33, 0.40, 0.44),
    'grass': (0.04, 0.10, 0.05, 0.45),
    'crop': (0.04, 0.12, 0.06, 0.50),
    'deciduous': (0.03, 0.07, 0.04, 0.40),
    'conifer': (0.02, 0.05, 0.03, 0.28),
    'pavers': (0.20, 0.21, 0.23, 0.26),
    'court_red': (0.07, 0.08, 0.25, 0.28),
    'court_blue': (0.25, 0.15, 0.08, 0.12),
    'court_turf': (0.06, 0.15, 0.08, 0.10),
    'rail': (0.15, 0.16, 0.17, 0.19),
    'car_window': (0.04, 0.04, 0.04, 0.04),
}
_WINTER = {
    'grass': (0.08, 0.11, 0.13, 0.28),
    'crop': (0.07, 0.10, 0.12, 0.26),
    'deciduous': (0.08, 0.09, 0.11, 0.18),
    'conifer': (0.02, 0.05, 0.03, 0.24),
}
_CAR_PAINTS = ((0.60, 0.60, 0.60, 0.60), (0.04, 0.04, 0.04, 0.05),
               (0.33, 0.34, 0.35, 0.36), (0.05, 0.05, 0.40, 0.45),
               (0.30, 0.12, 0.05, 0.20), (0.05, 0.25, 0.35, 0.40),
               (0.08, 0.15, 0.08, 0.15))
#: Texture amplitude (relative) of each material.
_TEXTURE = dict(grass=0.08, crop=0.06, soil=0.14, sand=0.08, gravel=0.1,
                asphalt=0.06, pavers=0.12, deciduous=0.18, conifer=0.2,
                water_clear=0.03, water_turbid=0.04, rail=0.1)
#: Parcel land cover as a function of urbanness u: weights at u = 0 and 1.
_PARCELS = (
    (LOW_VEGETATION, 0.50, 0.30),
    (TREE, 0.22, 0.08),
    (BARREN, 0.18, 0.10),
    (BACKGROUND, 0.10, 0.52),
)


# ------------------------------------------------------------------ layout
class _Tile(_Canvas):
    """mini's canvas in metres, with a height map for shadows.

    Args:
        h (int): Height (pixels, padding included).
        w (int): Width (pixels, padding included).
        gsd (float): Ground sampling distance (metres per pixel).
    """

    def __init__(self, h: int, w: int, gsd: float):
        super().__init__(h, w)
        self.gsd = gsd
        self.ym, self.xm = (self.yy + 0.5) * gsd, (self.xx + 0.5) * gsd
        self.height = np.zeros((h, w), np.float32)

    def paint(self, mask: np.ndarray, cls: int, role: str,
              height: float = 0.0, **extra) -> None:
        if not mask.any():
            return
        super().paint(mask, cls, role, **extra)
        self.height[mask] = height

    def frame(self, cy: float, cx: float, angle: float):
        """Coordinates (along, across) of every pixel in a frame at
        ``(cy, cx)`` metres rotated by ``angle``."""
        dy, dx = self.ym - cy, self.xm - cx
        c, s = np.cos(angle), np.sin(angle)
        return dx * c + dy * s, -dx * s + dy * c

    def box(self, cy, cx, half_len, half_wid, angle):
        u, v = self.frame(cy, cx, angle)
        return (np.abs(u) <= half_len) & (np.abs(v) <= half_wid)

    def disc(self, cy, cx, r):
        return (self.ym - cy)**2 + (self.xm - cx)**2 <= r * r


def _mix(u: float, pairs) -> np.ndarray:
    w = np.array([a + (b - a) * u for a, b in pairs])
    return w / w.sum()


def _parcels(rng, t: _Tile, u: float) -> None:
    """Voronoi parcels of land cover: fields, meadows and lawns (with
    single trees), forest, bare soil and background surfaces."""
    size = (45 + (18 - 45) * u) * rng.uniform(0.8, 1.2)
    hm, wm = t.h * t.gsd, t.w * t.gsd
    n = max(2, int(round(hm * wm / size**2 * rng.uniform(0.8, 1.2))))
    seeds = rng.uniform(0, 1, (n, 2)) * (hm, wm)
    d = ((t.ym[..., None] - seeds[:, 0])**2 +
         (t.xm[..., None] - seeds[:, 1])**2)
    pid = d.argmin(-1)
    probs = _mix(u, [(a, b) for _, a, b in _PARCELS])
    for k in range(n):
        mask = pid == k
        if not mask.any():  # two seeds in one pixel
            continue
        cls = _PARCELS[rng.choice(len(_PARCELS), p=probs)][0]
        if cls == LOW_VEGETATION:
            if rng.random() < 1 - u:  # a field: crop rows
                t.paint(mask, cls, 'crop', angle=rng.uniform(0, np.pi),
                        period=rng.uniform(1.5, 4.0))
            else:
                t.paint(mask, cls, 'grass')
            if rng.random() < 0.3 + 0.4 * u:  # park / single trees
                for _ in range(rng.integers(1, 5)):
                    ys, xs = np.nonzero(mask)
                    i = rng.integers(len(ys))
                    _tree(rng, t, t.ym[ys[i], xs[i]], t.xm[ys[i], xs[i]])
        elif cls == TREE:  # forest: dense crowns over a grass floor
            t.paint(mask, LOW_VEGETATION, 'grass')
            conifer = rng.uniform(0, 1)
            ys, xs = np.nonzero(mask)
            for i in rng.permutation(len(ys))[:max(1, len(ys) // 12)]:
                _tree(rng, t, t.ym[ys[i], xs[i]], t.xm[ys[i], xs[i]],
                      within=mask, conifer=conifer)
        elif cls == BARREN:
            t.paint(mask, cls, 'sand' if rng.random() < 0.3 else 'soil')
        else:
            kind = rng.choice(('pavers', 'court', 'parking', 'rail', 'yard'),
                              p=_mix(u, ((0.3, 0.3), (0.02, 0.15),
                                         (0.05, 0.2), (0.03, 0.1),
                                         (0.55, 0.1))))
            _background(rng, t, mask, kind)


def _background(rng, t: _Tile, mask: np.ndarray, kind: str) -> None:
    """A background parcel: paved yard, sports court, car park, railway or
    farmyard."""
    if kind == 'court':
        t.paint(mask, BACKGROUND,
                rng.choice(('court_red', 'court_blue', 'court_turf')))
        ang = rng.uniform(0, np.pi)
        u, v = t.frame(t.ym[mask].mean(), t.xm[mask].mean(), ang)
        lines = (np.abs(u % 12 - 6) < 0.3) | (np.abs(v % 8 - 4) < 0.3)
        t.paint(mask & lines, BACKGROUND, 'marking')
    elif kind == 'parking':
        t.paint(mask, BACKGROUND, 'asphalt')
        ang = rng.uniform(0, np.pi)
        cy, cx = t.ym[mask].mean(), t.xm[mask].mean()
        u, v = t.frame(cy, cx, ang)
        t.paint(mask & (np.abs(u % 2.6) < 0.15) & (v % 11 < 5), BACKGROUND,
                'marking')
        fill = rng.uniform(0.2, 0.8)
        span = int(np.sqrt(mask.sum()) * t.gsd) + 6
        for i in range(-span // 3, span // 3):
            for j in range(-span // 11, span // 11 + 1):
                if rng.random() > fill:
                    continue
                pu, pv = (i + 0.5) * 2.6, j * 11 + 2.5
                py = cy + pu * np.sin(ang) + pv * np.cos(ang)
                px = cx + pu * np.cos(ang) - pv * np.sin(ang)
                iy, ix = int(py / t.gsd), int(px / t.gsd)
                if 0 <= iy < t.h and 0 <= ix < t.w and mask[iy, ix]:
                    _car(rng, t, py, px, ang + np.pi / 2)
    elif kind == 'rail':
        t.paint(mask, BACKGROUND, 'gravel')
        u, v = t.frame(t.ym[mask].mean(), t.xm[mask].mean(),
                       rng.uniform(0, np.pi))
        t.paint(mask & (np.abs(v % 4.5 - 0.7) < 0.15), BACKGROUND, 'rail')
    elif kind == 'yard':
        t.paint(mask, BACKGROUND, 'gravel' if rng.random() < 0.5 else
                'pavers')
        ys, xs = np.nonzero(mask)
        for _ in range(rng.integers(2, 6)):  # stacks, heaps (not car-sized)
            i = rng.integers(len(ys))
            t.paint(mask & t.box(t.ym[ys[i], xs[i]], t.xm[ys[i], xs[i]],
                                 rng.uniform(3, 6), rng.uniform(2.5, 5),
                                 rng.uniform(0, np.pi)), BACKGROUND,
                    'clutter', height=rng.uniform(0.5, 2.5))
    else:
        t.paint(mask, BACKGROUND, 'pavers')


def _tree(rng, t: _Tile, cy: float, cx: float, within=None,
          conifer: float = 0.2) -> None:
    r = rng.uniform(2.0, 4.5)
    mask = t.disc(cy, cx, r)
    if within is not None:
        mask &= within
    kind = 'conifer' if rng.random() < conifer else 'deciduous'
    t.paint(mask, TREE, kind, height=rng.uniform(6, 14), centre=(cy, cx),
            radius=r)


def _car(rng, t: _Tile, cy: float, cx: float, angle: float) -> None:
    if rng.random() < 0.3:  # a van
        half_len, half_wid = rng.uniform(2.7, 3.4), rng.uniform(1.0, 1.15)
    else:
        half_len, half_wid = rng.uniform(2.1, 2.5), rng.uniform(0.88, 1.0)
    paint = np.array(_CAR_PAINTS[rng.integers(len(_CAR_PAINTS))])
    t.paint(t.box(cy, cx, half_len, half_wid, angle), CAR, 'car',
            height=1.5, spectrum=paint)
    # windscreen and rear window
    for off, size in ((0.45, 0.35), (-0.8, 0.25)):
        t.paint(t.box(cy + off * np.sin(angle), cx + off * np.cos(angle),
                      size, half_wid * 0.8, angle), CAR, 'car_window',
                height=1.5)


def _road_band(rng, t: _Tile, cy, cx, angle, width, wiggle=0.0):
    """Mask and along-road frame of a (possibly winding) road."""
    u, v = t.frame(cy, cx, angle)
    if wiggle:
        v = v - wiggle * np.sin(2 * np.pi * u / rng.uniform(60, 150) +
                                rng.uniform(0, 2 * np.pi))
    return np.abs(v) <= width / 2, u, v


def _roads(rng, t: _Tile, u: float) -> Tuple[np.ndarray, list]:
    """Paint roads; returns the road mask and, per road, (angle, u, v,
    width) for placing cars and trees beside it."""
    hm, wm = t.h * t.gsd, t.w * t.gsd
    roads, mask = [], np.zeros((t.h, t.w), bool)
    if rng.random() < 0.35 + 0.65 * u:  # a street grid
        angle = rng.uniform(0, np.pi)
        spacing = (80 + (42 - 80) * u) * rng.uniform(0.85, 1.15)
        for a in (angle, angle + np.pi / 2):
            if a != angle and rng.random() > 0.3 + 0.7 * u:
                continue
            width = rng.uniform(6, 10) if u > 0.5 else rng.uniform(5, 7)
            offset = rng.uniform(0, spacing)
            # the grid lines that cross the tile
            u0, v0 = t.frame(hm / 2, wm / 2, a)
            vmin, vmax = v0.min() - width, v0.max() + width
            k0 = int(np.floor((vmin - offset) / spacing))
            for k in range(k0, k0 + int((vmax - vmin) / spacing) + 2):
                c = offset + k * spacing
                cy = hm / 2 + c * np.cos(a)
                cx = wm / 2 - c * np.sin(a)
                band, uu, vv = _road_band(rng, t, cy, cx, a, width)
                if band.any():
                    roads.append((a, uu, vv, width, 'asphalt'))
                    mask |= band
    else:  # country roads
        for _ in range(1 + (rng.random() < 0.25)):
            if rng.random() < 0.2:
                continue
            a = rng.uniform(0, np.pi)
            width = rng.uniform(4, 6)
            band, uu, vv = _road_band(
                rng, t, hm * rng.uniform(0.2, 0.8), wm * rng.uniform(0.2, 0.8),
                a, width, wiggle=rng.uniform(0, 8))
            material = 'gravel' if rng.random() < 0.4 else 'asphalt'
            roads.append((a, uu, vv, width, material))
            mask |= band
    for a, uu, vv, width, material in roads:
        band = np.abs(vv) <= width / 2
        t.paint(band, ROAD, material)
        if material == 'asphalt' and width >= 6 and rng.random() < 0.7:
            dash = (uu % 6) < 3
            t.paint(band & (np.abs(vv) < 0.15) & dash, ROAD, 'marking')
    return mask, roads


def _water(rng, t: _Tile, u: float) -> np.ndarray:
    hm, wm = t.h * t.gsd, t.w * t.gsd
    material = 'water_turbid' if rng.random() < 0.4 else 'water_clear'
    cy, cx = hm * rng.uniform(0.2, 0.8), wm * rng.uniform(0.2, 0.8)
    kind = rng.choice(('river', 'pond', 'canal'),
                      p=_mix(u, ((0.55, 0.2), (0.4, 0.3), (0.05, 0.5))))
    if kind == 'pond':
        mask = t.box(cy, cx, rng.uniform(5, 16), rng.uniform(4, 10),
                     rng.uniform(0, np.pi))
        mask |= t.disc(cy, cx, rng.uniform(4, 10))
    else:
        mask, _, _ = _road_band(
            rng, t, cy, cx, rng.uniform(0, np.pi), rng.uniform(5, 14),
            wiggle=rng.uniform(2, 10) if kind == 'river' else 0.0)
    t.paint(mask, WATER, material)
    return mask


def _building(rng, t: _Tile, foot: np.ndarray, cy: float, cx: float,
              half: Tuple[float, float], angle: float, height: float) -> None:
    """One building on footprint ``foot``: a gable roof (two planes, one
    facing the sun) or a flat roof with units and panels on it."""
    roof = rng.choice(('roof_tile', 'roof_concrete', 'roof_bitumen',
                       'roof_metal'), p=(0.4, 0.25, 0.2, 0.15))
    if roof == 'roof_tile' or rng.random() < 0.3:
        ridge = angle + (0 if half[0] > half[1] else np.pi / 2)
        _, v = t.frame(cy, cx, ridge)
        for side in (-1, 1):
            t.paint(foot & (v * side >= 0), BUILDING, roof, height=height,
                    slope=(ridge + np.pi / 2, side))
        return
    t.paint(foot, BUILDING, roof, height=height)
    ys, xs = np.nonzero(foot)
    for _ in range(rng.integers(0, 4)):
        i = rng.integers(len(ys))
        t.paint(foot & t.box(t.ym[ys[i], xs[i]], t.xm[ys[i], xs[i]],
                             rng.uniform(0.6, 2), rng.uniform(0.5, 1.5),
                             angle), BUILDING, 'clutter', height=height + 1)


def _buildings(rng, t: _Tile, u: float, blocked: np.ndarray,
               roads: list) -> None:
    """Rows of houses facing the streets (towns) and scattered buildings
    (farms, sheds)."""
    hm, wm = t.h * t.gsd, t.w * t.gsd
    occupied = blocked.copy()

    def place(cy, cx, half, angle, height):
        foot = t.box(cy, cx, half[0], half[1], angle)
        if not foot.any() or (t.box(cy, cx, half[0] + 1, half[1] + 1, angle)
                              & occupied).any():
            return
        occupied[...] |= foot
        _building(rng, t, foot, cy, cx, half, angle, height)

    for a, uu, vv, width, _ in roads:
        on_road = np.abs(vv) <= width / 2
        if not on_road.any() or rng.random() > min(1.0, 1.3 * u)**2:
            continue
        lo, hi = uu[on_road].min(), uu[on_road].max()
        for side in (-1, 1):
            pos = lo - 10
            setback = rng.uniform(1, 4)
            while pos < hi + 10:
                front, depth = rng.uniform(7, 16), rng.uniform(8, 16)
                p = _point_on(t, uu, vv, pos + front / 2,
                              side * (width / 2 + setback + depth / 2))
                if p is not None:
                    place(*p, (front / 2, depth / 2), a,
                          rng.uniform(8, 20))
                pos += front + rng.uniform(0.5, 4)
    angle = roads[0][0] if roads else rng.uniform(0, np.pi)
    for _ in range(int(25 * u**3)):  # back buildings in town blocks
        place(rng.uniform(0, hm), rng.uniform(0, wm),
              (rng.uniform(4, 9), rng.uniform(4, 7)),
              angle + rng.choice((0, np.pi / 2)), rng.uniform(8, 20))
    for _ in range(rng.poisson(1.3 * hm * wm / 44**2)):  # farms, sheds
        place(rng.uniform(0, hm), rng.uniform(0, wm),
              (rng.uniform(4, 12), rng.uniform(3, 7)),
              angle + rng.choice((0, np.pi / 2)) + rng.normal(0, 0.3),
              rng.uniform(4, 8))


def _roadside(rng, t: _Tile, u: float, roads: list,
              free: np.ndarray) -> None:
    """Cars on and beside the roads, trees along them."""
    for a, uu, vv, width, material in roads:
        on_road = np.abs(vv) <= width / 2
        if not on_road.any():
            continue
        lo, hi = uu[on_road].min(), uu[on_road].max()
        park = 0.45 * u if width >= 6 else 0.05
        for side in (-1, 1):
            pos = lo + rng.uniform(0, 6)
            while pos < hi:
                offset = side * (width / 2 - 1.2)
                if rng.random() < park:
                    _car_at(rng, t, a, uu, vv, pos, offset)
                pos += rng.uniform(5.5, 7)
            # driving cars in the lane
            for _ in range(rng.poisson(0.4 + 0.6 * u)):
                _car_at(rng, t, a, uu, vv, rng.uniform(lo, hi),
                        side * width / 4)
        trees = 0.6 * u if material == 'asphalt' else 0.3
        if rng.random() < trees:
            side = rng.choice((-1, 1))
            pos = lo + rng.uniform(0, 8)
            while pos < hi:
                _tree_at(rng, t, uu, vv, pos, side * (width / 2 + 2.5), free)
                pos += rng.uniform(7, 12)


def _point_on(t: _Tile, uu, vv, pos, offset):
    """Metre coordinates of the point (pos, offset) in a road's frame."""
    near = np.abs(uu - pos) + np.abs(vv - offset)
    iy, ix = np.unravel_index(near.argmin(), near.shape)
    if near[iy, ix] > 2 * t.gsd + 1:
        return None
    return t.ym[iy, ix], t.xm[iy, ix]


def _car_at(rng, t, a, uu, vv, pos, offset):
    p = _point_on(t, uu, vv, pos, offset)
    if p is not None:
        _car(rng, t, *p, a + rng.normal(0, 0.03))


def _tree_at(rng, t, uu, vv, pos, offset, free):
    p = _point_on(t, uu, vv, pos, offset)
    if p is not None and free[int(p[0] / t.gsd), int(p[1] / t.gsd)]:
        _tree(rng, t, *p)


#: Surfaces that carry label-keeping clutter (roof units, playground
#: items, hay bales). Not roads, car parks or water: a coloured box there
#: is what a car or a boat looks like.
_CLUTTER_ON = ('roof_tile', 'roof_concrete', 'roof_bitumen', 'roof_metal',
               'grass', 'crop', 'soil', 'sand', 'pavers', 'court_red',
               'court_blue', 'court_turf')


def _clutter(rng, t: _Tile) -> None:
    """Small objects in random colours that keep the label below them
    (without them every oddly coloured blob would be a car)."""
    for _ in range(rng.integers(2, 8)):
        iy, ix = rng.integers(t.h), rng.integers(t.w)
        under = int(t.label[iy, ix])
        if t.parts[t.inst[iy, ix]]['role'] not in _CLUTTER_ON:
            continue
        mask = t.box(t.ym[iy, ix], t.xm[iy, ix], rng.uniform(0.6, 2.2),
                     rng.uniform(0.5, 1.8), rng.uniform(0, np.pi))
        t.paint(mask & (t.label == under), under, 'clutter',
                height=t.height[iy, ix] + rng.uniform(0, 1))


def _layout(rng, h: int, w: int, gsd: float, u: float) -> _Tile:
    """Draw one tile's geometry (padding included)."""
    t = _Tile(h + 2 * _MARGIN, w + 2 * _MARGIN, gsd)
    _parcels(rng, t, u)
    water = (_water(rng, t, u) if rng.random() < 0.3 else
             np.zeros((t.h, t.w), bool))
    road, roads = _roads(rng, t, u)
    _buildings(rng, t, u, road | water, roads)
    free = (t.label != BUILDING) & ~road & ~water
    _roadside(rng, t, u, roads, free)
    _clutter(rng, t)
    return t


# -------------------------------------------------------------- appearance
def _spectrum(rng, part: Dict, winter: float) -> np.ndarray:
    role = part['role']
    if role == 'clutter':
        return rng.uniform(0.02, 0.6, 4)
    if role == 'car':
        spec = np.array(part['spectrum'])
    else:
        spec = np.array(_SUMMER[role])
        if role in _WINTER:
            spec = spec + winter * (np.array(_WINTER[role]) - spec)
    return spec * np.exp(rng.normal(0, 0.1) + rng.normal(0, 0.04, 4))


def _shadow(t: _Tile, azimuth: float, elevation: float) -> np.ndarray:
    """1 where the sun is hidden by something taller along its direction."""
    dy, dx = -np.cos(azimuth), np.sin(azimuth)  # towards the sun
    rise = t.gsd * np.tan(np.radians(elevation))  # metres per pixel step
    steps = int(min(t.height.max() / rise, max(t.h, t.w))) + 1
    shade = np.zeros((t.h, t.w), bool)
    pad = steps + 1
    hp = np.pad(t.height, pad)
    for k in range(1, steps + 1):
        oy, ox = int(round(k * dy)), int(round(k * dx))
        src = hp[pad + oy:pad + oy + t.h, pad + ox:pad + ox + t.w]
        shade |= src - t.height > k * rise
    return shade


def _reflectance(rng, t: _Tile, winter: float,
                 azimuth: float) -> np.ndarray:
    """Four-band reflectance of the tile with textures and shading."""
    bank = _bank()
    spec = np.stack([_spectrum(rng, p, winter) for p in t.parts])
    refl = spec[t.inst].astype(np.float32)
    sun = np.array((-np.cos(azimuth), np.sin(azimuth)))
    for k, part in enumerate(t.parts):
        mask = t.inst == k
        if not mask.any():
            continue
        role = part['role']
        amp = _TEXTURE.get(role, 0.0)
        if role == 'deciduous':
            amp += 0.25 * winter  # bare branches over the ground
        gain = np.ones(mask.sum(), np.float32)
        if amp:
            gain += amp * bank.grey_crop(rng, t.h, t.w)[mask]
        if role == 'crop':
            u, _ = t.frame(0.0, 0.0, part['angle'])
            gain += 0.2 * np.sin(2 * np.pi * u[mask] / part['period'])
        if 'centre' in part:  # a crown: lit on the sun's side
            cy, cx = part['centre']
            off = ((t.ym[mask] - cy) * sun[0] + (t.xm[mask] - cx) * sun[1])
            gain *= 1 + 0.35 * off / part['radius']
        if 'slope' in part:  # a roof plane facing the sun or away
            face, side = part['slope']
            facing = side * (np.sin(face) * sun[0] + np.cos(face) * sun[1])
            gain *= 1 + 0.25 * facing
        refl[mask] *= np.clip(gain, 0.2, 2.0)[:, None]
    return refl


def _sensor_matrix(e: float) -> np.ndarray:
    """Output channels (R, G, B) from bands (B, G, R, NIR): true colour at
    e = 0, the IRRG false colour (NIR, R, G) at e = 1."""
    rgb = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]], np.float32)
    irrg = np.array([[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]], np.float32)
    return rgb + e * (irrg - rgb)


def _render(rng, t: _Tile, e: float) -> np.ndarray:
    """Image of the tile at shift strength ``e`` (0: the source camera in
    summer), float RGB in DN, padding included."""
    azimuth = rng.uniform(0, 2 * np.pi)
    summer = rng.uniform(*_SUN_SUMMER)
    elevation = summer + e * (rng.uniform(*_SUN_WINTER) - summer)
    refl = _reflectance(rng, t, e, azimuth)
    shade = _shadow(t, azimuth, elevation)
    direct = np.sin(np.radians(elevation))
    irradiance = direct * (1 - shade.astype(np.float32)) + 0.25
    signal = (refl * irradiance[:, :, None]) @ _sensor_matrix(
        e**_SENSOR_POWER).T
    # the flight's exposure follows the sun; a white-balance error per tile
    exposure = 1.3 / (direct + 0.25) * np.exp(rng.normal(0, 0.08))
    signal *= exposure * np.exp(rng.normal(0, 0.04, 3))
    img = 255 * np.sqrt(np.clip(signal, 0, 1))
    img = cv2.GaussianBlur(img, (0, 0), _BLUR[0] + e * _BLUR[1])
    return img + rng.normal(0, _NOISE[0] + e * _NOISE[1], img.shape)


def _rng(seed: int, domain: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 200 + domain, index])


def render_sample(seed: int, domain: str, index: int,
                  size: Tuple[int, int] = DEFAULT_SIZE
                  ) -> Tuple[np.ndarray, np.ndarray, Dict]:
    """Render one tile.

    Args:
        seed (int): Data set seed.
        domain (str): 'source', 'target_train', 'target_val' or
            'source_val' (held-out source tiles, never trained on: the
            source-val criterion of model selection).
        index (int): Sample index within the split.
        size (tuple[int, int]): Image size (H, W).

    Returns:
        tuple: RGB image (H, W, 3) uint8, label (H, W) uint8 (train ids,
        255 = no data) and the tile's description: ``layout`` (one of
        :data:`LAYOUTS`), ``urbanness``, ``severity`` (0 for the source)
        and ``gsd`` (metres per pixel).
    """
    codes = dict(source=0, target_train=1, target_val=2, source_val=3)
    if domain not in codes:
        raise ValueError(f'aerial: domain must be one of {sorted(codes)}, '
                         f'got {domain!r}')
    rng = _rng(seed, codes[domain], index)
    side = 'source' if domain.startswith('source') else 'target'
    u = float(rng.beta(*_URBANNESS[side]))
    severity = 0.0 if side == 'source' else float(rng.uniform(0, 1))
    e = min(1.0, severity * _SHIFT_GAIN)
    gsd = _GSD * rng.uniform(0.9, 1.1) * (1 - _GSD_SHRINK * e)
    h, w = size
    tile = _layout(rng, h, w, gsd, u)
    img = _render(rng, tile, e)
    crop = np.s_[_MARGIN:_MARGIN + h, _MARGIN:_MARGIN + w]
    img, label = img[crop], tile.label[crop].copy()
    if rng.random() < _NODATA_P:  # the edge of the flight strip
        yy, xx = tile.yy[crop] - _MARGIN, tile.xx[crop] - _MARGIN
        ang = rng.uniform(0, 2 * np.pi)
        d = (yy - h / 2) * np.sin(ang) + (xx - w / 2) * np.cos(ang)
        nodata = d > rng.uniform(0.3, 0.6) * min(h, w)
        img[nodata] = 0
        label[nodata] = IGNORE
    info = dict(layout=LAYOUTS[min(int(u * 3), 2)], urbanness=u,
                severity=severity, gsd=gsd)
    return np.clip(img, 0, 255).astype(np.uint8), label, info


# ---------------------------------------------------------------- writing
def generate_aerial(root: str, seed: int = 0,
                    n_source: int = DEFAULT_COUNTS['n_source'],
                    n_target_train: int = DEFAULT_COUNTS['n_target_train'],
                    n_target_val: int = DEFAULT_COUNTS['n_target_val'],
                    n_source_val: int = DEFAULT_COUNTS['n_source_val'],
                    size: Sequence[int] = DEFAULT_SIZE) -> str:
    """Generate the aerial task into ``root`` (not atomic; see
    :func:`ensure_aerial`).

    Layout (as mini's): ``root/source/{images,labels}`` (GTA5 layout,
    ``*_labelTrainIds.png``), the held-out ``root/source_val/{images,labels}``
    (same layout) and ``root/target/{leftImg8bit,gtFine}/{train,val}/aerial``
    (Cityscapes layout), plus ``root/target/conditions_{train,val}.csv``
    (image, condition = layout band, severity, urbanness, gsd_m) for
    diagnostics.

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
    size = check_size_and_counts('aerial', size, counts)

    def render(domain, index):
        img, lbl, info = render_sample(seed, domain, index, size)
        return img, lbl, (info['layout'], f'{info["severity"]:.4f}',
                          f'{info["urbanness"]:.4f}', f'{info["gsd"]:.4f}')

    return write_task(root, 'aerial', render, counts, CITY,
                      columns=('condition', 'severity', 'urbanness', 'gsd_m'))


def default_root(seed: int = 0) -> str:
    """Cache folder of the aerial task for ``seed``:
    ``<cache parent>/aerial-<version>-seed<seed>`` (the cache parent is
    ``$CLST_MMSEG_DATA_DIR`` or ``~/.cache/clst_mmseg``)."""
    return osp.join(cache_parent(), f'aerial-{AERIAL_VERSION}-seed{seed}')


def ensure_aerial(root: Optional[str] = None, seed: int = 0) -> str:
    """Return the aerial task's folder, generating it first if needed
    (atomically; see :mod:`.generated_cache`).

    Args:
        root (str, optional): Folder; defaults to :func:`default_root`.
        seed (int): Data set seed.

    Returns:
        str: The folder holding ``source/``, ``source_val/`` and
        ``target/``.
    """
    meta = dict(task='aerial', version=AERIAL_VERSION, seed=int(seed),
                size=list(DEFAULT_SIZE), **DEFAULT_COUNTS)
    root = ensure_generated(
        root or default_root(seed), meta,
        lambda folder: generate_aerial(folder, seed=seed, size=DEFAULT_SIZE,
                                       **DEFAULT_COUNTS), 'aerial')
    # the source's class statistics (rare class sampling)
    ensure_class_stats(osp.join(root, 'source'), '_labelTrainIds.png',
                       NUM_CLASSES)
    return root


def main(argv=None) -> None:
    generation_cli('aerial', ensure_aerial, default_root, argv)


if __name__ == '__main__':
    main()
