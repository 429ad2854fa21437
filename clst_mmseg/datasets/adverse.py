"""The built-in "adverse" two-domain task: clear day → night, fog and rain.

A second procedurally generated UDA task beside :mod:`.mini`, of a
different character:

- **classes**: a dominant ``background`` (sky, buildings, trees, sidewalk,
  poles, street lamps, clutter; ~56 % of the pixels), ``road`` (~32 %), and
  four small, rare object classes: ``traffic light``, ``traffic sign``,
  ``person``, ``car`` (2-4.5 % each). mIoU weighs the rare classes as much
  as the background, so a method that drifts towards the majority classes
  loses there.
- **shift**: both domains share one appearance (palette, photo textures from
  matplotlib's sample images); the target adds adverse *conditions* as in
  Cityscapes → ACDC: night (light falling to a few percent of daylight in
  one hue, glowing lamps with bloom, retro-reflecting signs, headlight
  fall-off, amplified sensor noise), fog (contrast lost towards an airlight
  with the scene's depth) or rain (overcast, desaturated, a wet road
  mirroring the sky, streaks, blur). Each target image draws a condition
  and a severity in [0, 1]; most images are fully shifted, some mildly, so
  that pseudo-labels have easy images to start from (mini's lesson: a
  uniformly hard target makes self-training collapse).
- **distractors**: street lamps (bright at night, like traffic-light lamps),
  bare poles (like sign and light poles) and coloured clutter labelled
  background.

The on-disk layout is mini's: the source in the GTA5 layout, the target in
the Cityscapes layout (city folder ``adverse``), labels as train ids
``0..len(ADVERSE_CLASSES)-1``. The data set depends only on its seed;
:func:`ensure_adverse` generates it once into the shared cache folder
(``adverse-<version>-seed<seed>``), atomically.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .generated_cache import (cache_parent, ensure_class_stats,
                              ensure_generated)
from .generated_layout import check_size_and_counts, generation_cli, write_task
from .mini import _bank, _Canvas

ADVERSE_VERSION = 'v1'
#: Cityscapes classes of the task after ``background`` (Cityscapes' void).
_CS_NAMES = ('road', 'traffic light', 'traffic sign', 'person', 'car')


def _cs_classes() -> Tuple[tuple, list]:
    from cityscapesscripts.helpers.labels import name2label
    colours = [list(name2label['unlabeled'].color)] + [
        list(name2label[n].color) for n in _CS_NAMES]
    return ('background', ) + _CS_NAMES, colours


ADVERSE_CLASSES, ADVERSE_PALETTE = _cs_classes()
BACKGROUND, ROAD, LIGHT, SIGN, PERSON, CAR = range(6)
NUM_CLASSES = len(ADVERSE_CLASSES)

DEFAULT_COUNTS = dict(n_source=1000, n_target_train=500, n_target_val=200,
                      n_source_val=100)
DEFAULT_SIZE = (64, 64)
CITY = 'adverse'

# Appearance and condition knobs. Changing any of them changes the task:
# bump ADVERSE_VERSION so that old caches are not reused.
#: Target conditions and how often each is drawn.
CONDITIONS = ('night', 'fog', 'rain')
_CONDITION_P = (0.6, 0.2, 0.2)
#: A condition reaches full strength at severity 1 / _SHIFT_GAIN (as mini's
#: palette shift): half of the target images are fully shifted, a quarter
#: mildly (strength < 0.5).
_SHIFT_GAIN = 2.0
#: Colour of the night light: moonlight, sodium street lamps.
_NIGHT_TINTS = ((0.65, 0.8, 1.3), (1.4, 0.95, 0.35))
_JITTER = 8.0
_COLOURS = {
    'sky': (120, 170, 230),
    'cloud': (230, 235, 240),
    'sidewalk': (165, 160, 155),
    'grass': (85, 135, 60),
    'tree': (55, 115, 50),
    'road': (90, 90, 95),
    'marking': (230, 230, 225),
    'window': (60, 70, 95),
    'pole': (115, 115, 120),
    'lamp_head': (205, 205, 195),
    'lamp_off': (40, 40, 40),
    'car_window': (45, 55, 75),
    'wheel': (25, 25, 25),
    'taillight': (170, 35, 30),
    'headlight': (225, 225, 210),
}
_FACADES = ((150, 105, 85), (175, 160, 130), (120, 120, 130), (185, 180,
                                                               170))
_CAR_COLOURS = ((200, 30, 30), (30, 60, 180), (235, 235, 235), (30, 30, 30),
                (160, 160, 170), (220, 200, 40), (40, 120, 60))
_CLOTHES = ((200, 40, 40), (40, 70, 160), (30, 30, 35), (230, 230, 225),
            (90, 140, 60), (220, 170, 40), (120, 80, 60))
_SKIN = ((225, 185, 150), (180, 130, 95), (120, 80, 55))
_HOUSINGS = ((35, 35, 35), (195, 165, 40))
#: Traffic-light lamp colours in daylight and their emission at night.
_LAMPS = (((200, 40, 30), (255, 50, 30)), ((215, 150, 30), (255, 170, 20)),
          ((40, 170, 90), (40, 255, 130)))
#: Sign faces: (outer colour, inner colour or None) and the shape.
_SIGNS = ((((200, 30, 30), (240, 240, 240)), 'disc'),
          (((30, 80, 190), None), 'disc'),
          (((230, 200, 30), None), 'diamond'),
          (((200, 30, 30), (240, 240, 240)), 'triangle'),
          (((240, 240, 240), None), 'square'))
_EMIT = dict(window=(255, 205, 125), lamp_head=(255, 215, 150),
             taillight=(255, 40, 30), headlight=(255, 250, 225))


# ------------------------------------------------------------------ layout
class _Scene(_Canvas):
    """mini's canvas plus the scene's depth (1 at the bottom ground row,
    growing towards the horizon; inf for the sky).

    Args:
        h (int): Height.
        w (int): Width.
        vy (float): Row of the vanishing line of the ground plane.
    """

    def __init__(self, h: int, w: int, vy: float):
        super().__init__(h, w)
        self.vy = vy
        self.depth = np.full((h, w), np.inf, np.float32)

    def ground_depth(self, y):
        return (self.h - self.vy) / np.maximum(y - self.vy, 1e-3)

    def paint(self, mask: np.ndarray, cls: int, role: str = 'region',
              depth=None, **extra) -> None:
        if not mask.any():
            return
        super().paint(mask, cls, role, **extra)
        if depth is not None:
            self.depth[mask] = depth if np.isscalar(depth) else depth[mask]


def _person(c: _Scene, rng, yb: float, x: float, tb: float) -> None:
    ph = tb * c.h * rng.uniform(0.4, 0.55)
    pw = max(2.5, ph * rng.uniform(0.35, 0.45))
    d = 1 / tb
    legs = c.rect(yb - ph * 0.45, yb, x - pw * 0.4, x + pw * 0.4)
    c.paint(legs, PERSON, 'legs', depth=d,
            colour=_CLOTHES[rng.integers(len(_CLOTHES))])
    torso = c.rect(yb - ph * 0.8, yb - ph * 0.42, x - pw / 2, x + pw / 2)
    c.paint(torso, PERSON, 'torso', depth=d,
            colour=_CLOTHES[rng.integers(len(_CLOTHES))])
    head = c.ellipse(yb - ph * 0.89, x, ph * 0.11, max(pw * 0.32, 0.6))
    c.paint(head, PERSON, 'head', depth=d,
            colour=_SKIN[rng.integers(len(_SKIN))])


def _car(c: _Scene, rng, yb: float, lft: float, rgt: float,
         tb: float) -> None:
    cw = tb * c.w * rng.uniform(0.35, 0.55)
    chh = cw * rng.uniform(0.4, 0.55)
    cx = rng.uniform(lft + cw / 2, max(rgt - cw / 2, lft + cw / 2 + 1))
    x0, x1 = cx - cw / 2, cx + cw / 2
    d = 1 / tb
    body = c.rect(yb - chh * 0.6, yb - chh * 0.1, x0, x1)
    cabin = c.rect(yb - chh, yb - chh * 0.55, x0 + cw * 0.18, x1 - cw * 0.18)
    c.paint(body | cabin, CAR, 'car', depth=d,
            colour=_CAR_COLOURS[rng.integers(len(_CAR_COLOURS))])
    c.paint(c.rect(yb - chh * 0.92, yb - chh * 0.6, x0 + cw * 0.25,
                   x1 - cw * 0.25), CAR, 'car_window', depth=d)
    light = 'taillight' if rng.random() < 0.6 else 'headlight'
    lw = max(1.0, cw * 0.14)
    for lx in (x0, x1 - lw):
        c.paint(c.rect(yb - chh * 0.55, yb - chh * 0.55 + max(1.0, chh * 0.15),
                       lx, lx + lw), CAR, light, depth=d)
    for wx in (x0 + cw * 0.22, x1 - cw * 0.22):
        c.paint(c.ellipse(yb - chh * 0.12, wx, chh * 0.14, cw * 0.1), CAR,
                'wheel', depth=d)


def _pole(c: _Scene, yb: float, x: float, tb: float, top: float) -> float:
    """A pole (background) from the ground row ``yb`` up to ``top``;
    returns its width."""
    pw = max(1.0, round(tb * 1.6 * c.w / 64))
    c.paint(c.rect(top, yb, x - pw / 2, x + pw / 2), BACKGROUND, 'pole',
            depth=1 / tb)
    return pw


def _traffic_light(c: _Scene, rng, yb: float, x: float, tb: float) -> None:
    length = (yb - c.vy) * rng.uniform(1.3, 2.0)
    top = max(yb - length, 1.0)
    _pole(c, yb, x, tb, top)
    hw = max(4.0, tb * c.w * rng.uniform(0.14, 0.18))
    hh = hw * rng.uniform(2.4, 2.8)
    d = 1 / tb
    c.paint(c.rect(top, top + hh, x - hw / 2, x + hw / 2), LIGHT, 'housing',
            depth=d, colour=_HOUSINGS[rng.integers(len(_HOUSINGS))])
    active = rng.integers(3)
    for k in range(3):
        lamp = c.ellipse(top + hh * (k + 0.5) / 3, x, max(hh / 8, 0.5),
                         max(hw * 0.3, 0.5))
        if k == active:
            day, night = _LAMPS[rng.integers(len(_LAMPS))]
            c.paint(lamp, LIGHT, 'lamp_on', depth=d, colour=day, emit=night)
        else:
            c.paint(lamp, LIGHT, 'lamp_off', depth=d)


def _sign(c: _Scene, rng, yb: float, x: float, tb: float) -> None:
    length = (yb - c.vy) * rng.uniform(0.9, 1.5)
    r = max(3.5, tb * c.w * rng.uniform(0.14, 0.18))
    cy = max(yb - length, r)
    _pole(c, yb, x, tb, cy)
    (outer, inner), shape = _SIGNS[rng.integers(len(_SIGNS))]
    dy, dx = (c.yy - cy) / r, (c.xx - x) / r
    faces = {
        'disc': lambda k: dy**2 + dx**2 <= k**2,
        'diamond': lambda k: np.abs(dy) + np.abs(dx) <= k * 1.2,
        'triangle': lambda k: (dy <= 0.8 * k) & (dy >= -k) &
        (np.abs(dx) <= (dy + k) * 0.6),
        'square': lambda k: (np.abs(dy) <= k * 0.9) & (np.abs(dx) <= k * 0.9),
    }
    d = 1 / tb
    c.paint(faces[shape](1.0), SIGN, 'sign', depth=d, colour=outer)
    if inner is not None and r >= 2.5:
        c.paint(faces[shape](0.55), SIGN, 'sign', depth=d, colour=inner)


def _street_lamp(c: _Scene, rng, yb: float, x: float, tb: float) -> None:
    length = (yb - c.vy) * rng.uniform(1.8, 2.6)
    top = max(yb - length, 1.0)
    pw = _pole(c, yb, x, tb, top)
    side = rng.choice((-1, 1))
    arm = tb * c.w * rng.uniform(0.05, 0.12) * side
    x0, x1 = sorted((x, x + arm))
    c.paint(c.rect(top, top + pw, x0, x1), BACKGROUND, 'pole', depth=1 / tb)
    c.paint(c.ellipse(top + pw * 1.2, x + arm, max(pw * 0.8, 0.7),
                      max(abs(arm) * 0.35, 1.0)), BACKGROUND, 'lamp_head',
            depth=1 / tb)


def _layout(rng: np.random.Generator, h: int, w: int) -> _Scene:
    """Draw one scene's geometry: a street seen from a car, objects placed
    on the ground plane with sizes from their distance."""
    horizon = h * rng.uniform(0.38, 0.5)
    vy = horizon - 0.12 * h
    c = _Scene(h, w, vy)
    yy, xx = c.yy, c.xx
    c.paint(yy < horizon, BACKGROUND, 'sky')
    for _ in range(rng.integers(0, 3)):
        c.paint(c.ellipse(rng.uniform(0, horizon * 0.7), rng.uniform(0, w),
                          h * rng.uniform(0.03, 0.07),
                          w * rng.uniform(0.08, 0.2)) & (yy < horizon),
                BACKGROUND, 'cloud')
    ground = yy >= horizon
    c.paint(ground, BACKGROUND, 'sidewalk', depth=c.ground_depth(yy))

    vx = w * rng.uniform(0.3, 0.7)
    bl, br = w * rng.uniform(-0.5, 0.2), w * rng.uniform(0.8, 1.5)

    def edges(y):
        t = np.clip((y - vy) / (h - vy), 0, None)
        return vx + (bl - vx) * t, vx + (br - vx) * t

    left, right = edges(yy)
    road = ground & (xx >= left) & (xx <= right)
    c.paint(road, ROAD, 'road', depth=c.ground_depth(yy))
    if rng.random() < 0.7:
        t = np.clip((yy - vy) / (h - vy), 0, None)
        mid = vx + ((bl + br) / 2 - vx) * t
        dash = np.floor(np.sqrt(np.maximum(yy - vy, 0)) *
                        rng.uniform(4, 8) / 2) % 2 == 0
        c.paint((yy >= horizon + 2) & (np.abs(xx - mid) <= 0.2 + 1.2 * t)
                & dash & road, ROAD, 'marking', depth=c.ground_depth(yy))

    # Skyline on the horizon: buildings with windows, trees, gaps.
    far = float(c.ground_depth(horizon + 1))
    x = -rng.uniform(0, 0.2) * w
    while x < w:
        seg = w * rng.uniform(0.15, 0.45)
        kind = rng.choice(3, p=(0.55, 0.3, 0.15))
        base = horizon + rng.uniform(0, 2)
        if kind == 0:
            top = max(horizon - h * rng.uniform(0.12, 0.4), 0)
            c.paint(c.rect(top, base, x, x + seg), BACKGROUND, 'building',
                    depth=far, colour=_FACADES[rng.integers(len(_FACADES))])
            step = rng.uniform(3.5, 6)
            lit = rng.random() < 0.5
            win = (c.rect(top + 1, base - 2, x + 1, x + seg - 1)
                   & ((yy - top) % step < step * 0.5)
                   & ((xx - x) % step < step * 0.5))
            c.paint(win, BACKGROUND, 'window', depth=far,
                    emit=_EMIT['window'] if lit else None)
        elif kind == 1:
            mask = np.zeros((h, w), bool)
            for _ in range(rng.integers(2, 5)):
                mask |= c.ellipse(horizon - h * rng.uniform(0.08, 0.3),
                                  x + seg * rng.uniform(0.1, 0.9),
                                  h * rng.uniform(0.06, 0.16),
                                  seg * rng.uniform(0.25, 0.55))
            c.paint(mask & (yy < base), BACKGROUND, 'tree', depth=far)
        x += seg
    if rng.random() < 0.5:  # grass verge beside the road
        side = rng.choice((-1, 1))
        edge = left if side < 0 else right
        verge = ground & ~road & ((xx - edge) * side > w * rng.uniform(
            0.05, 0.3))
        c.paint(verge, BACKGROUND, 'grass', depth=c.ground_depth(yy))

    # Clutter in random colours that keeps the label below it (posters,
    # bins, bushes): without it every coloured blob would be an object.
    for _ in range(rng.integers(2, 7)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        under = int(c.label[int(cy), int(cx)])
        r = rng.uniform(1.5, 4) * h / 64
        shape = (c.ellipse(cy, cx, r, r * rng.uniform(0.6, 1.6))
                 if rng.random() < 0.5 else c.rect(
                     cy - r, cy + r, cx - r * rng.uniform(0.5, 1.5),
                     cx + r * rng.uniform(0.5, 1.5)))
        c.paint(shape & (c.label == under), under, 'clutter')

    # Objects on the ground, far ones first so that near ones occlude them.
    counts = dict(
        car=rng.choice(4, p=(0.3, 0.35, 0.25, 0.1)),
        person=rng.choice(6, p=(0.2, 0.25, 0.2, 0.15, 0.1, 0.1)),
        light=rng.choice(4, p=(0.3, 0.35, 0.25, 0.1)),
        sign=rng.choice(4, p=(0.25, 0.35, 0.25, 0.15)),
        lamp=rng.choice(3, p=(0.4, 0.4, 0.2)),
        pole=rng.choice(3, p=(0.5, 0.35, 0.15)))
    objects = [(horizon + rng.uniform(0.2, 1.0) * (h - horizon), kind)
               for kind, n in counts.items() for _ in range(n)]
    objects.sort(key=lambda o: o[0])
    for yb, kind in objects:
        tb = (yb - vy) / (h - vy)
        lft, rgt = edges(yb)
        if kind == 'car':
            _car(c, rng, yb, lft, rgt, tb)
            continue
        if kind == 'person' and rng.random() < 0.2:  # crossing the road
            _person(c, rng, yb, rng.uniform(lft, rgt), tb)
            continue
        sides = [(lo, hi) for lo, hi in ((0, lft - 1), (rgt + 1, w - 1))
                 if hi - lo >= 1]
        if not sides:
            continue
        lo, hi = sides[rng.integers(len(sides))]
        # street furniture stands near the kerb, people anywhere on it
        x = (rng.uniform(lo, hi) if kind == 'person' else
             (hi - rng.uniform(0, 0.3) * (hi - lo) if lo == 0 else
              lo + rng.uniform(0, 0.3) * (hi - lo)))
        if kind == 'person':
            _person(c, rng, yb, x, tb)
        elif kind == 'light':
            _traffic_light(c, rng, yb, x, tb)
        elif kind == 'sign':
            _sign(c, rng, yb, x, tb)
        elif kind == 'lamp':
            _street_lamp(c, rng, yb, x, tb)
        else:
            _pole(c, yb, x, tb, max(yb - (yb - vy) * rng.uniform(1.2, 2.2),
                                    0))
    return c


# -------------------------------------------------------------- appearance
_TEXTURED = ('sidewalk', 'grass', 'tree', 'road', 'building', 'sky', 'car',
             'torso', 'legs')


def _part_colour(rng, part: Dict) -> np.ndarray:
    role = part['role']
    if role == 'clutter':
        return rng.uniform(0, 255, 3)
    base = part['colour'] if 'colour' in part else _COLOURS[role]
    return np.array(base, np.float64) + rng.normal(0, _JITTER, 3)


def _render_day(rng, c: _Scene) -> np.ndarray:
    """The scene in clear daylight (float RGB): palette, photo textures,
    posters, sky gradient, shadows and sun strength. Both domains start
    here; the source is this image."""
    h, w = c.h, c.w
    bank = _bank()
    colours = np.stack([_part_colour(rng, p) for p in c.parts])
    img = colours[c.inst].astype(np.float32)
    for k, part in enumerate(c.parts):
        mask = c.inst == k
        if not mask.any():
            continue
        role = part['role']
        if role == 'clutter' and rng.random() < 0.5:
            ys, xs = np.nonzero(mask)
            y0, x0 = ys.min(), xs.min()
            poster = bank.poster(rng, ys.max() - y0 + 1, xs.max() - x0 + 1)
            img[mask] = poster[ys - y0, xs - x0]
        elif role == 'building' and rng.random() < 0.4:
            photo = bank.photo_crop(rng, h, w)
            rel = photo[mask] / (photo[mask].mean(0) + 1)
            img[mask] *= 1 + rng.uniform(0.3, 0.7) * (rel - 1)
        if role in _TEXTURED:
            img[mask] += rng.uniform(6, 20) * bank.grey_crop(
                rng, h, w)[mask][:, None]
    sky = ~np.isfinite(c.depth)
    img[sky] += (rng.uniform(0, 30) * c.yy[sky] / h)[:, None]
    for _ in range(rng.integers(0, 3)):  # shadows on the ground
        blob = c.ellipse(rng.uniform(h * 0.5, h), rng.uniform(0, w),
                         h * rng.uniform(0.05, 0.2), w * rng.uniform(0.1, 0.4))
        img[blob] *= rng.uniform(0.6, 0.85)
    return img * np.exp(rng.normal(0, 0.1))


def _emission(c: _Scene) -> np.ndarray:
    """Light sources of the scene at night (float RGB)."""
    emit = np.zeros((c.h, c.w, 3), np.float32)
    for k, part in enumerate(c.parts):
        colour = part['emit'] if 'emit' in part else _EMIT.get(
            part['role'])
        if colour is not None:
            emit[c.inst == k] = colour
    return emit


def _night(rng, c: _Scene, img: np.ndarray, e: float) -> np.ndarray:
    # Ambient light falls exponentially with the strength (4-10 % of
    # daylight at full strength) and takes the colour of its source, sodium
    # street lamps or moonlight: colour is lost (the image turns towards one
    # hue); the sky darkens more than the lit street.
    ambient = rng.uniform(0.04, 0.1)**e
    tint = np.array(_NIGHT_TINTS[rng.integers(len(_NIGHT_TINTS))])
    mono = img.mean(2, keepdims=True) * tint
    img = (img + e * (mono - img)) * ambient
    img[~np.isfinite(c.depth)] *= 0.4**e
    # the car's own headlights light what is near; signs reflect them back
    finite = np.isfinite(c.depth)
    near = np.zeros_like(c.depth)
    near[finite] = np.exp(-1.5 * (c.depth[finite] - 1))
    img *= (1 + e * rng.uniform(1, 3) * near)[:, :, None]
    img[c.label == SIGN] *= 1 + e * rng.uniform(2, 5)
    light = e * _emission(c)
    img += 0.8 * light + rng.uniform(0.6, 1.2) * cv2.GaussianBlur(
        light, (0, 0), rng.uniform(1, 2.5))
    # a high sensor gain amplifies the read noise with the signal
    img += rng.normal(0, 1 + e * rng.uniform(2, 4), img.shape)
    return img * (1 + e * rng.uniform(1, 2))


def _overcast(rng, img: np.ndarray, e: float) -> np.ndarray:
    """Fog and rain come with an overcast sky: 30-60 % of clear
    daylight at full strength, which the camera does not fully expose
    for."""
    return img * rng.uniform(0.3, 0.6)**e


def _fog(rng, c: _Scene, img: np.ndarray, e: float) -> np.ndarray:
    # Koschmieder's model: transmission exp(-beta * depth) towards an airlight
    beta = e * rng.uniform(0.5, 1.1)
    trans = np.zeros_like(c.depth)
    finite = np.isfinite(c.depth)
    trans[finite] = np.exp(-beta * (c.depth[finite] - 1))
    trans = trans[:, :, None]
    airlight = rng.uniform(170, 220) * np.array((1.0, 1.0, 1.03))
    img = img * trans + airlight * (1 - trans)
    sigma = e * rng.uniform(0.3, 0.8)
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    return _overcast(rng, img, e) + rng.normal(0, 2 + 3 * e, img.shape)


def _rain(rng, c: _Scene, img: np.ndarray, e: float) -> np.ndarray:
    # overcast: darker, greyer, bluer
    img = img * (1 - e * rng.uniform(0.3, 0.5))
    grey = img.mean(2, keepdims=True)
    img = (grey + (img - grey) * (1 - 0.6 * e)) * np.array(
        (0.9, 0.95, 1.1))**e
    # wet road: it mirrors the bright sky and smears what stands on it
    sky = ~np.isfinite(c.depth)
    sky_colour = img[sky].mean(0) if sky.any() else img.mean((0, 1))
    smear = cv2.blur(img, (1, 9))
    wet = 0.4 * smear + 0.6 * sky_colour
    road = (c.label == ROAD)[:, :, None]
    img = np.where(road, img + 0.9 * e * (wet - img), img)
    # streaks: short, faint slanted lines
    streaks = np.zeros(img.shape[:2], np.float32)
    slant = rng.uniform(-0.3, 0.3)
    for _ in range(int(e * rng.uniform(30, 80))):
        x, y = rng.uniform(0, c.w), rng.uniform(0, c.h)
        n = rng.uniform(3, 8)
        cv2.line(streaks, (int(x), int(y)),
                 (int(x + n * slant), int(y + n)), rng.uniform(20, 50), 1)
    img += cv2.GaussianBlur(streaks, (0, 0), 0.5)[:, :, None]
    sigma = e * rng.uniform(0.3, 0.8)
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    return _overcast(rng, img, e) + rng.normal(0, 2 + 4 * e, img.shape)


_CONDITION_FNS = dict(night=_night, fog=_fog, rain=_rain)


def _rng(seed: int, domain: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 100 + domain, index])


def render_sample(seed: int, domain: str, index: int,
                  size: Tuple[int, int] = DEFAULT_SIZE
                  ) -> Tuple[np.ndarray, np.ndarray, str, float]:
    """Render one sample.

    Args:
        seed (int): Data set seed.
        domain (str): 'source', 'target_train', 'target_val' or
            'source_val' (held-out clear-day images, never trained on: the
            source-val criterion of model selection).
        index (int): Sample index within the split.
        size (tuple[int, int]): Image size (H, W).

    Returns:
        tuple: RGB image (H, W, 3) uint8, label (H, W) uint8, the condition
        (``'clear'`` for the source, else one of :data:`CONDITIONS`) and its
        severity (0 for the source).
    """
    codes = dict(source=0, target_train=1, target_val=2, source_val=3)
    if domain not in codes:
        raise ValueError(f'adverse: domain must be one of {sorted(codes)}, '
                         f'got {domain!r}')
    rng = _rng(seed, codes[domain], index)
    scene = _layout(rng, *size)
    img = _render_day(rng, scene)
    if domain in ('source', 'source_val'):
        img += rng.normal(0, 2, img.shape)
        condition, severity = 'clear', 0.0
    else:
        condition = CONDITIONS[rng.choice(len(CONDITIONS), p=_CONDITION_P)]
        severity = float(rng.uniform(0, 1))
        strength = min(1.0, severity * _SHIFT_GAIN)
        img = _CONDITION_FNS[condition](rng, scene, img, strength)
        img *= 1 + strength * rng.normal(0, 0.1, 3)  # white balance
    return (np.clip(img, 0, 255).astype(np.uint8), scene.label, condition,
            severity)


# ---------------------------------------------------------------- writing
def generate_adverse(root: str, seed: int = 0,
                     n_source: int = DEFAULT_COUNTS['n_source'],
                     n_target_train: int = DEFAULT_COUNTS['n_target_train'],
                     n_target_val: int = DEFAULT_COUNTS['n_target_val'],
                     n_source_val: int = DEFAULT_COUNTS['n_source_val'],
                     size: Sequence[int] = DEFAULT_SIZE) -> str:
    """Generate the adverse task into ``root`` (not atomic; see
    :func:`ensure_adverse`).

    Layout (as mini's): ``root/source/{images,labels}`` (GTA5 layout,
    ``*_labelTrainIds.png``), the held-out ``root/source_val/{images,labels}``
    (same layout) and
    ``root/target/{leftImg8bit,gtFine}/{train,val}/adverse`` (Cityscapes
    layout), plus ``root/target/conditions_{train,val}.csv`` (image, condition,
    severity) for diagnostics.

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
    size = check_size_and_counts('adverse', size, counts)

    def render(domain, index):
        img, lbl, cond, sev = render_sample(seed, domain, index, size)
        return img, lbl, (cond, f'{sev:.4f}')

    return write_task(root, 'adverse', render, counts, CITY,
                      columns=('condition', 'severity'))


def default_root(seed: int = 0) -> str:
    """Cache folder of the adverse task for ``seed``:
    ``<cache parent>/adverse-<version>-seed<seed>`` (the cache parent is
    ``$CLST_MMSEG_DATA_DIR`` or ``~/.cache/clst_mmseg``)."""
    return osp.join(cache_parent(), f'adverse-{ADVERSE_VERSION}-seed{seed}')


def ensure_adverse(root: Optional[str] = None, seed: int = 0) -> str:
    """Return the adverse task's folder, generating it first if needed
    (atomically; see :mod:`.generated_cache`).

    Args:
        root (str, optional): Folder; defaults to :func:`default_root`.
        seed (int): Data set seed.

    Returns:
        str: The folder holding ``source/`` and ``target/``.
    """
    meta = dict(task='adverse', version=ADVERSE_VERSION, seed=int(seed),
                size=list(DEFAULT_SIZE), **DEFAULT_COUNTS)
    root = ensure_generated(
        root or default_root(seed), meta,
        lambda folder: generate_adverse(folder, seed=seed, size=DEFAULT_SIZE,
                                        **DEFAULT_COUNTS), 'adverse')
    # the source's class statistics (rare class sampling)
    ensure_class_stats(osp.join(root, 'source'), '_labelTrainIds.png',
                       len(ADVERSE_CLASSES))
    return root


def main(argv=None) -> None:
    generation_cli('adverse', ensure_adverse, default_root, argv)


if __name__ == '__main__':
    main()
