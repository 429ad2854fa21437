import pytest
import torch

import clst_mmseg  # noqa: F401
from clst_mmseg.models.utils import (PhotometricAugment, class_balanced,
                                     class_balanced_thresholds,
                                     confidence_threshold)


def test_confidence_threshold_drops_low_confidence_pixels():
    probs = torch.tensor([[0.95, 0.6], [0.05, 0.4]]).view(1, 2, 1, 2)
    labels, conf = confidence_threshold(probs, 0.9)
    assert labels.tolist() == [[[0, 255]]]
    assert conf.flatten().tolist() == pytest.approx([0.95, 0.6])


def test_class_balanced_thresholds_on_known_histogram():
    # class 0: 10 pixels with confidences 0.91..1.00; class 1: 4 pixels
    # with 0.5, 0.6, 0.7, 0.8; class 2: never predicted
    conf = torch.tensor([0.91 + 0.01 * i for i in range(10)] +
                        [0.5, 0.6, 0.7, 0.8])
    labels = torch.tensor([0] * 10 + [1] * 4)
    th = class_balanced_thresholds(conf, labels, 3, portion=0.5)
    # rank floor(0.5 * 10) = 5 of the sorted-descending class-0 values
    assert th[0].item() == pytest.approx(0.95)
    assert th[1].item() == pytest.approx(0.6)  # rank 2 of (.8,.7,.6,.5)
    assert th[2].item() == float('inf')
    capped = class_balanced_thresholds(conf, labels, 3, 0.5,
                                       max_threshold=0.9)
    assert capped[0].item() == pytest.approx(0.9)
    with pytest.raises(ValueError, match='portion'):
        class_balanced_thresholds(conf, labels, 3, portion=0.0)


def test_class_balanced_keeps_rare_class_that_a_fixed_threshold_drops():
    # a rare class predicted with 0.6 everywhere is starved by 0.9
    probs = torch.zeros(1, 2, 1, 10)
    probs[0, 0, 0, :8] = 0.99
    probs[0, 1, 0, :8] = 0.01
    probs[0, 1, 0, 8:] = 0.6
    probs[0, 0, 0, 8:] = 0.4
    fixed, _ = confidence_threshold(probs, 0.9)
    assert (fixed == 1).sum() == 0
    balanced, _ = class_balanced(probs, portion=0.5)
    assert (balanced == 1).sum() == 2


def test_photometric_augment_keeps_shape_and_changes_pixels():
    torch.manual_seed(0)
    aug = PhotometricAugment(mean=[100., 110., 120.], std=[50., 50., 50.],
                             jitter_prob=1.0, blur_prob=1.0)
    x = torch.randn(2, 3, 16, 16)
    y = aug(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert not torch.allclose(x, y)
    none = PhotometricAugment(mean=[100., 110., 120.], std=[50., 50., 50.],
                              jitter_prob=0.0, blur_prob=0.0)
    mean = torch.tensor([100., 110., 120.]).view(1, 3, 1, 1)
    x = (torch.rand(1, 3, 4, 4) * 255 - mean) / 50
    torch.testing.assert_close(none(x), x, atol=1e-5, rtol=0)


def test_photometric_augment_hue_range(monkeypatch):
    """DACS's kornia ColorJitter(hue=0.25) shifts hue by up to a quarter
    of the circle; without jitter_hue the shift stays within s/4."""
    import clst_mmseg.models.utils.target_augment as ta
    shifts = []
    monkeypatch.setattr(ta.TF, 'adjust_hue',
                        lambda img, h: shifts.append(h) or img)
    x = torch.zeros(64, 3, 4, 4)
    for hue, bound in ((0.25, 0.25), (None, 0.0625)):
        shifts.clear()
        torch.manual_seed(0)
        aug = PhotometricAugment(mean=[0., 0., 0.], std=[1., 1., 1.],
                                 jitter_prob=1.0, jitter_strength=0.25,
                                 jitter_hue=hue, blur_prob=0.0)
        aug(x)
        assert len(shifts) == 64
        assert max(abs(h) for h in shifts) <= bound
        assert max(abs(h) for h in shifts) > 0.8 * bound
    with pytest.raises(ValueError, match=r'jitter_hue must be in \[0, 0.5\]'):
        PhotometricAugment(mean=[0.] * 3, std=[1.] * 3, jitter_hue=0.6)


def test_photometric_augment_blur_kernel_as_dacs(monkeypatch):
    """DACS's gaussian_blur: kernel side = ceil(0.1 * side), made odd."""
    import clst_mmseg.models.utils.target_augment as ta
    sizes = []
    monkeypatch.setattr(ta.TF, 'gaussian_blur',
                        lambda img, k, s: sizes.append(tuple(k)) or img)
    aug = PhotometricAugment(mean=[0.] * 3, std=[1.] * 3, jitter_prob=0.0,
                             blur_prob=1.0, blur_kernel_ratio=0.1)
    aug(torch.zeros(1, 3, 512, 512))
    aug(torch.zeros(1, 3, 64, 96))
    assert sizes == [(51, 51), (9, 7)]  # (x, y): ceil(51.2)=52 -> 51
    sizes.clear()
    default = PhotometricAugment(mean=[0.] * 3, std=[1.] * 3,
                                 jitter_prob=0.0, blur_prob=1.0,
                                 blur_sigma=(1.0, 1.0))
    default(torch.zeros(1, 3, 512, 512))
    assert sizes == [(5, 5)]


@pytest.mark.parametrize('per_batch', [False, True])
def test_photometric_augment_per_batch_decision(monkeypatch, per_batch):
    """DACS draws whether to jitter and whether to blur once per iteration
    (trainUDA.py strong_parameters); per image otherwise. The factors and
    the sigma stay per image either way."""
    import clst_mmseg.models.utils.target_augment as ta
    jittered, blurred, sigmas = [], [], []
    monkeypatch.setattr(ta.TF, 'adjust_brightness',
                        lambda img, f: jittered.append(f) or img)
    monkeypatch.setattr(ta.TF, 'gaussian_blur',
                        lambda img, k, s: blurred.append(1) or sigmas.append(
                            s[0]) or img)
    aug = PhotometricAugment(mean=[0.] * 3, std=[1.] * 3, jitter_prob=0.5,
                             blur_prob=0.5, per_batch=per_batch)
    counts = set()
    for seed in range(40):
        torch.manual_seed(seed)
        jittered.clear(), blurred.clear(), sigmas.clear()
        aug(torch.zeros(4, 3, 8, 8))
        counts.add((len(jittered), len(blurred)))
        if len(sigmas) > 1:
            assert len(set(sigmas)) == len(sigmas)  # drawn per image
        if len(jittered) > 1:
            assert len(set(jittered)) == len(jittered)
    if per_batch:  # all four or none
        assert {j for j, _ in counts} == {0, 4}
        assert {b for _, b in counts} == {0, 4}
    else:
        assert {j for j, _ in counts} - {0, 4}
