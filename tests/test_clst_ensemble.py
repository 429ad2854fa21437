"""CLST's compact temporal ensemble: geometry against mmcv/mmseg's own
transforms, the update rule against a float64 EMA, pseudo-label agreement
with a full float64 softmax ensemble, class-balanced thresholds,
persistence."""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clst_mmseg  # noqa: F401
from clst_mmseg.models.utils import class_balanced_thresholds
from clst_mmseg.models.utils.ensemble_memory import (AugGeometry,
                                                     CompactEnsembleMemory,
                                                     aug_to_cell_index,
                                                     cityscapes_sized_bytes,
                                                     image_to_aug_grid,
                                                     sample_prediction)
from mmseg.registry import TRANSFORMS


def _augment(h0, w0, flip, seed):
    """Run the real target transforms on an image whose channels hold its
    own pixel coordinates (float, bilinear); returns (aug image, meta)."""
    yy, xx = np.meshgrid(np.arange(h0), np.arange(w0), indexing='ij')
    img = np.stack([yy, xx, np.zeros_like(yy)], -1).astype(np.float32)
    np.random.seed(seed)
    results = dict(img=img, img_shape=(h0, w0), ori_shape=(h0, w0),
                   sample_idx=3)
    pipeline = [
        dict(type='RandomResize', scale=(w0, h0), ratio_range=(1.0, 1.6),
             keep_ratio=True),
        dict(type='RecordedRandomCrop', crop_size=(24, 32)),
        dict(type='RandomFlip', prob=1.0 if flip else 0.0,
             direction=flip or 'horizontal'),
        dict(type='PackUDAInputs'),
    ]
    for t in pipeline:
        results = TRANSFORMS.build(t)(results)
    aug = results['inputs'].permute(1, 2, 0).double()
    return aug, results['data_samples'].metainfo


@pytest.mark.parametrize('flip', [None, 'horizontal', 'vertical',
                                  'diagonal'])
@pytest.mark.parametrize('seed', [0, 1])
def test_geometry_matches_the_real_transforms(flip, seed):
    aug, meta = _augment(40, 56, flip, seed)
    geo = AugGeometry.from_meta(meta)
    assert geo.img_shape == tuple(aug.shape[:2]) == (24, 32)
    assert geo.flip == flip and geo.ori_shape == (40, 56)
    hc, wc = geo.img_shape
    y = torch.arange(hc).double().view(-1, 1).expand(hc, wc)
    x = torch.arange(wc).double().view(1, -1).expand(hc, wc)
    y0, x0 = geo.aug_to_image(y, x)
    # bilinear resizing of a coordinate ramp is exact away from the border
    inner = (y0 > 1) & (y0 < 38) & (x0 > 1) & (x0 < 54)
    assert inner.float().mean() > 0.5
    assert torch.allclose(aug[..., 0][inner], y0[inner], atol=1e-3)
    assert torch.allclose(aug[..., 1][inner], x0[inner], atol=1e-3)
    # image_to_aug inverts aug_to_image
    yb, xb = geo.image_to_aug(y0, x0)
    assert torch.allclose(yb, y) and torch.allclose(xb, x)


def test_geometry_tensor_round_trip_and_defaults():
    geo = AugGeometry.from_meta(dict(ori_shape=(10, 20), img_shape=(10, 20)))
    assert geo == AugGeometry((10, 20), (1.0, 1.0), (0, 0), (10, 20), None)
    geo = AugGeometry((10, 20), (1.5, 1.25), (3, 4), (8, 9), 'diagonal')
    assert AugGeometry.from_tensor(geo.to_tensor()) == geo
    with pytest.raises(KeyError, match='PackUDAInputs'):
        AugGeometry.from_meta(dict(img_shape=(3, 3)))


def test_cell_lookup_of_a_plain_and_a_flipped_image():
    geo = AugGeometry((8, 8), (1.0, 1.0), (0, 0), (8, 8), None)
    iy, ix = aug_to_cell_index(geo, (4, 4))
    assert iy[:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ix[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    flipped = AugGeometry((8, 8), (1.0, 1.0), (0, 0), (8, 8), 'horizontal')
    assert aug_to_cell_index(flipped, (4, 4))[1][0].tolist() == [
        3, 3, 2, 2, 1, 1, 0, 0
    ]


def test_grid_of_a_cropped_upscaled_view():
    # a cropped, 2x upscaled view covers only part of the memory grid
    crop = AugGeometry((8, 8), (2.0, 2.0), (4, 8), (8, 8), None)
    grid, valid = image_to_aug_grid(crop, (4, 4), (8, 8))
    assert valid.tolist() == [[False, False, False, False],
                              [False, False, True, True],
                              [False, False, True, True],
                              [False, False, False, False]]
    # cell (1, 2) has its centre at image pixel (2.5, 4.5), i.e. at
    # (3 * 2 - 0.5 - 4, 5 * 2 - 0.5 - 8) = (1.5, 1.5) in the augmented frame
    assert grid[1, 2].tolist() == pytest.approx([2 * 2 / 8 - 1,
                                                 2 * 2 / 8 - 1])


@pytest.mark.parametrize('flip', [None, 'horizontal', 'vertical'])
def test_read_in_aug_frame_is_a_bilinear_resize_of_the_logits(flip):
    """Reading the memory in an augmented frame equals resizing the log of
    the represented distribution bilinearly to the resized image (as
    SelfTraining resizes its logits), cropping, flipping, soft-maxing."""
    g = torch.Generator().manual_seed(0)
    mem = CompactEnsembleMemory(3, (4, 6), 5, 0.6)
    for i in range(3):
        mem.update(i, (3 * torch.randn(5, 4, 6, generator=g)).softmax(0))
    unstored = torch.ones(4, 6, dtype=torch.bool)
    unstored[0, 0] = False
    mem.codes[2][~unstored] = 0
    geos = [AugGeometry((8, 12), (2.0, 2.0), (3, 5), (10, 12), flip),
            AugGeometry((8, 12), (1.0, 1.0), (0, 0), (8, 12), flip),
            AugGeometry((8, 12), (1.0, 1.0), (0, 0), (8, 12), None)]
    probs, stored = mem.read_in_aug_frame([0, 1, 2], geos, (10, 12))
    assert probs.shape == (3, 5, 10, 12) and stored.shape == (3, 10, 12)
    dims = {None: [], 'horizontal': [-1], 'vertical': [-2]}[flip]
    for i, (size, box) in enumerate([((16, 24), (3, 5)), ((8, 12), (0, 0))]):
        logits = mem.represented(mem.codes[i]).float().log()
        ref = F.interpolate(logits[None], size=size, mode='bilinear',
                            align_corners=False)[0]
        ref = ref[:, box[0]:box[0] + geos[i].img_shape[0],
                  box[1]:box[1] + geos[i].img_shape[1]]
        ref = ref.flip(dims) if dims else ref
        h, w = geos[i].img_shape
        assert torch.allclose(probs[i, :, :h, :w], ref.softmax(0),
                              atol=1e-5)
        assert stored[i, :h, :w].all()
    # pixels interpolated from a cell without a prediction are not stored
    assert stored[2].float().mean() > 0.9
    assert not stored[2, :2, :2].any() and stored[2, 4:, 4:].all()


def test_sample_prediction_undoes_a_flip():
    probs = torch.zeros(2, 4, 4)
    probs[0, :, :2] = 1  # class 0 on the left of the flipped input
    probs[1, :, 2:] = 1
    geo = AugGeometry((4, 4), (1.0, 1.0), (0, 0), (4, 4), 'horizontal')
    q, valid = sample_prediction(probs, geo, (4, 4), (4, 4))
    assert valid.all()
    assert q.argmax(0)[0].tolist() == [1, 1, 0, 0]


def test_codes_round_trip_and_size():
    mem = CompactEnsembleMemory(3, (2, 2), 19, 0.6)
    assert mem.levels == 1723 and mem.codes.dtype == torch.int16
    assert mem.nbytes == 3 * 4 * 2
    labels = torch.tensor([0, 18, 5, 7])
    conf = torch.tensor([1 / 19, 1.0, 0.5, 0.9004])
    lab, c, stored = mem.decode(mem.encode(labels, conf))
    assert lab.tolist() == labels.tolist() and stored.all()
    assert torch.allclose(c, conf, atol=0.5 / mem.levels)
    assert not mem.read(0)[2].any()  # zero-filled memory: nothing stored
    # 2975 Cityscapes images at DeepLabV2's stride-8 output of 1024x512
    assert cityscapes_sized_bytes() == 2975 * 64 * 128 * 2 < 64 * 2**20


def _reference_codes(mem, old_codes, q64):
    """What an exact float64 EMA of the represented state gives."""
    a = mem.momentum
    rep = mem.represented(old_codes)
    stored = mem.decode(old_codes)[2]
    z = torch.where(stored[None], a * rep + (1 - a) * q64, q64)
    top2 = z.topk(2, dim=0).values
    conf, labels = z.max(0)
    return labels, conf, top2[0] - top2[1]


def test_update_equals_float64_ema_of_the_represented_state():
    g = torch.Generator().manual_seed(0)
    mem = CompactEnsembleMemory(1, (16, 16), 7, 0.6)
    for step in range(30):
        q64 = (3 * torch.randn(7, 16, 16, generator=g,
                               dtype=torch.float64)).softmax(0)
        old = mem.codes[0].clone()
        labels, conf, gap = _reference_codes(mem, old, q64)
        mem.update(0, q64.float())
        got_l, got_c, stored = mem.read(0)
        assert stored.all()
        clear = gap > 1e-5  # float32 vs float64 may swap exact ties
        assert clear.float().mean() > 0.99
        assert torch.equal(got_l[clear], labels[clear]), step
        assert (got_c - conf).abs()[clear].max() <= 1.01 / mem.levels


def _synthetic_sequence(steps=300, n=12, c=5, seed=0):
    """A toy network that improves over time: noisy logits around each
    image's ground truth, seen through random rescale/crop/flip, output
    stride 4."""
    g = torch.Generator().manual_seed(seed)
    h0, w0 = 32, 48
    gt = F.interpolate(torch.randn(n, c, 4, 6, generator=g),
                       size=(h0, w0), mode='bilinear').argmax(1)
    for t in range(steps):
        i = int(torch.randint(n, (1, ), generator=g))
        s = 1 + 0.5 * float(torch.rand((), generator=g))
        hs, ws = round(h0 * s), round(w0 * s)
        y1 = int(torch.randint(hs - 32 + 1, (1, ), generator=g))
        x1 = int(torch.randint(ws - 32 + 1, (1, ), generator=g))
        flip = [None, 'horizontal'][int(torch.randint(2, (1, ),
                                                      generator=g))]
        geo = AugGeometry((h0, w0), (hs / h0, ws / w0), (y1, x1), (32, 32),
                          flip)
        y = torch.arange(32).double().view(-1, 1).expand(32, 32)
        x = torch.arange(32).double().view(1, -1).expand(32, 32)
        y0, x0 = geo.aug_to_image(y, x)
        lab = gt[i][y0.round().long().clamp(0, h0 - 1),
                    x0.round().long().clamp(0, w0 - 1)]
        beta = 1 + 4 * t / steps
        logits = beta * F.one_hot(lab, c).permute(2, 0, 1).double() + \
            1.5 * torch.randn(c, 32, 32, generator=g, dtype=torch.float64)
        yield i, geo, F.avg_pool2d(logits[None], 4)[0].softmax(0)


@functools.lru_cache(maxsize=None)
def _run_both(seed, momentum=0.6):
    n, c, size = 12, 5, (16, 24)
    mem = CompactEnsembleMemory(n, size, c, momentum)
    ref = torch.zeros(n, c, *size, dtype=torch.float64)
    seen = torch.zeros(n, *size, dtype=torch.bool)
    for i, geo, probs in _synthetic_sequence(n=n, c=c, seed=seed):
        q32, valid = sample_prediction(probs.float(), geo, size, (32, 32))
        mem.update(i, q32, valid)
        q64, _ = sample_prediction(probs, geo, size, (32, 32))
        new = torch.where(seen[i], momentum * ref[i] + (1 - momentum) * q64,
                          q64)
        ref[i] = torch.where(valid, new, ref[i])
        seen[i] |= valid
    return mem, ref, seen


@pytest.mark.parametrize('seed', [0, 1])
def test_pseudo_labels_agree_with_a_full_float64_ensemble(seed):
    mem, ref, seen = _run_both(seed)
    lab_c, conf_c, stored = mem.decode(mem.codes)
    conf_r, lab_r = ref.max(1)
    assert torch.equal(stored, seen) and seen.float().mean() > 0.95
    # confidence threshold 0.9 (the default selection)
    pl_c = torch.where(stored & (conf_c >= 0.9), lab_c, 255)
    pl_r = torch.where(seen & (conf_r >= 0.9), lab_r, 255)
    assert (pl_r != 255).float().mean() > 0.1
    assert (pl_c == pl_r).float().mean() >= 0.99
    # class-balanced selection, half of every class
    th_c = mem.class_thresholds(0.5)
    th_r = class_balanced_thresholds(conf_r[seen].float(), lab_r[seen], 5,
                                     0.5)
    pl_c = torch.where(stored & (conf_c >= th_c[lab_c]), lab_c, 255)
    pl_r = torch.where(seen & (conf_r.float() >= th_r[lab_r]), lab_r, 255)
    assert (pl_c == pl_r).float().mean() >= 0.99


def test_class_thresholds_from_the_histogram_are_exact():
    mem = _run_both(0)[0]
    lab, conf, stored = mem.decode(mem.codes)
    for portion in (0.2, 0.5, 1.0):
        expected = class_balanced_thresholds(conf[stored], lab[stored], 5,
                                             portion)
        assert torch.equal(mem.class_thresholds(portion, chunk=1000),
                           expected)
    assert torch.equal(mem.class_thresholds(0.5, max_threshold=0.6),
                       class_balanced_thresholds(conf[stored], lab[stored],
                                                 5, 0.5, 0.6))
    empty = CompactEnsembleMemory(2, (2, 2), 3, 0.5)
    assert torch.isinf(empty.class_thresholds(0.5)).all()


def test_memmap_matches_ram_and_state_round_trip(tmp_path):
    ram = CompactEnsembleMemory(4, (3, 5), 6, 0.6)
    mapped = CompactEnsembleMemory(4, (3, 5), 6, 0.6,
                                   filename=str(tmp_path / 'ens.int16'))
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        i = int(torch.randint(4, (1, ), generator=g))
        q = torch.randn(6, 3, 5, generator=g).softmax(0)
        valid = torch.rand(3, 5, generator=g) > 0.3
        ram.update(i, q, valid)
        mapped.update(i, q, valid)
    assert torch.equal(ram.codes, mapped.codes)
    assert (tmp_path / 'ens.int16').stat().st_size == 4 * 15 * 2
    state = mapped.state_dict()
    restored = CompactEnsembleMemory(4, (3, 5), 6, 0.6)
    restored.load_state_dict(state)
    assert torch.equal(restored.codes, ram.codes)
    with pytest.raises(ValueError, match='does not fit'):
        CompactEnsembleMemory(5, (3, 5), 6, 0.6).load_state_dict(state)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match='momentum'):
        CompactEnsembleMemory(1, (2, 2), 3, 1.0)
    with pytest.raises(ValueError, match='num_classes'):
        CompactEnsembleMemory(1, (2, 2), 1, 0.5)
    mem = CompactEnsembleMemory(1, (2, 2), 3, 0.5)
    with pytest.raises(IndexError, match='out of range'):
        mem.update(1, torch.ones(3, 2, 2) / 3)
    with pytest.raises(ValueError, match='shape'):
        mem.update(0, torch.ones(3, 2, 3) / 3)
