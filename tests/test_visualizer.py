"""TitledSegVisualizer (tools/test.py --show-dir): small images upscaled,
each panel titled, a legend instead of class-name boxes in small masks."""
import mmcv
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample

import clst_mmseg

clst_mmseg.register_all_modules()

CLASSES = ('road', 'car')
PALETTE = [[128, 64, 128], [0, 0, 142]]
STRIP = 22


def _visualizer(name):
    vis = VISUALIZERS.build(dict(type='TitledSegVisualizer', name=name))
    vis.set_dataset_meta(classes=CLASSES, palette=PALETTE)
    return vis


def _sample(size):
    gt = torch.zeros((1, size, size), dtype=torch.int64)
    gt[:, size // 4:size // 2, size // 4:size // 2] = 1
    pred = torch.zeros_like(gt)
    return SegDataSample(gt_sem_seg=PixelData(data=gt),
                         pred_sem_seg=PixelData(data=pred)), gt[0], pred[0]


def _blend(image, labels, alpha=0.8):
    """mmseg's drawing of a label map without class names."""
    colours = np.asarray(PALETTE, np.uint8)[labels.numpy()]
    return (image * (1 - alpha) + colours * alpha).astype(np.uint8)


def test_a_64px_sample_is_upscaled_titled_and_has_a_legend():
    vis = _visualizer('test_small')
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    sample, gt, pred = _sample(64)
    picture = vis.draw_sample(image, sample)
    # x4 (>= 256 pixels), ground truth | prediction, one legend row
    assert picture.shape == (STRIP + 256 + STRIP, 2 * 256, 3)
    big = image.repeat(4, 0).repeat(4, 1)
    panels = picture[STRIP:STRIP + 256]
    # no class-name boxes: each panel is exactly the blend of image and
    # colours, label maps repeated (no class blended at the edges)
    assert np.array_equal(panels[:, :256],
                          _blend(big, gt.repeat_interleave(4, 0)
                                 .repeat_interleave(4, 1)))
    assert np.array_equal(panels[:, 256:],
                          _blend(big, pred.repeat_interleave(4, 0)
                                 .repeat_interleave(4, 1)))
    # a title over each panel (dark text on white), not the same words
    titles = picture[:STRIP]
    left, right = titles[:, :256], titles[:, 256:]
    assert (left < 128).any() and (right < 128).any()
    assert not np.array_equal(left, right)
    # the legend shows the colour of each class present
    legend = picture[STRIP + 256:]
    for colour in PALETTE:
        assert (legend == colour).all(-1).any()


def test_a_large_sample_keeps_mmsegs_labels_and_size():
    vis = _visualizer('test_large')
    image = np.full((300, 300, 3), 90, np.uint8)
    sample, gt, _ = _sample(300)
    picture = vis.draw_sample(image, sample)
    assert picture.shape == (STRIP + 300, 600, 3)  # no legend, no upscale
    # mmseg's class-name boxes are drawn into the masks
    assert not np.array_equal(picture[STRIP:, :300], _blend(image, gt))


def test_add_datasample_stores_the_titled_picture(tmp_path):
    vis = _visualizer('test_store')
    sample, _, _ = _sample(64)
    out = tmp_path / 'x.png'
    vis.add_datasample('x', np.zeros((64, 64, 3), np.uint8), sample,
                       out_file=str(out))
    assert mmcv.imread(str(out)).shape == (STRIP + 256 + STRIP, 512, 3)
