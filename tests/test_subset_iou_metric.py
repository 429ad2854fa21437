"""SubsetIoUMetric: hand-computed values and agreement with cityscapesscripts'
pixel-level evaluation."""
import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
import clst_mmseg.evaluation.subset_iou_metric  # noqa: F401
from clst_mmseg.evaluation.subset_iou_metric import SubsetIoUMetric
from mmseg.registry import METRICS


def _sample(pred, gt):
    return dict(
        pred_sem_seg=dict(data=torch.as_tensor(np.asarray(pred))[None]),
        gt_sem_seg=dict(data=torch.as_tensor(np.asarray(gt))[None]))


def _evaluate(metric, classes, pairs):
    metric.dataset_meta = dict(classes=tuple(classes))
    metric.process({}, [_sample(p, g) for p, g in pairs])
    return metric.evaluate(len(pairs))


# Hand-computed: summed over both images (ignored pixel left out)
#   class a: gt 5, pred 3, inter 3 -> union 5 -> 60.00
#   class b: gt 3, pred 4, inter 3 -> union 4 -> 75.00
#   class c: gt 1, pred 2, inter 1 -> union 2 -> 50.00
#   aAcc 7 / 9 = 77.78, mIoU 185 / 3 = 61.67
TINY = [
    ([[0, 1, 1], [1, 2, 0]], [[0, 0, 1], [1, 2, 255]]),
    ([[0, 0], [2, 1]], [[0, 0], [0, 1]]),
]


def test_hand_computed_values_and_subsets():
    metric = METRICS.build(
        dict(type='SubsetIoUMetric',
             class_subsets=dict(mIoU_ab=['a', 'b'], mIoU_bc=['b', 'c'])))
    res = _evaluate(metric, ['a', 'b', 'c'], TINY)
    assert res['IoU.a'] == 60.0
    assert res['IoU.b'] == 75.0
    assert res['IoU.c'] == 50.0
    assert res['aAcc'] == 77.78
    assert res['mIoU'] == 61.67
    assert res['mIoU_ab'] == 67.5
    assert res['mIoU_bc'] == 62.5
    assert res['mAcc'] == pytest.approx(100 * (3 / 5 + 1 + 1) / 3, abs=5e-3)
    assert all(isinstance(v, float) for v in res.values())


def test_no_subsets_reports_plain_miou():
    res = _evaluate(SubsetIoUMetric(), ['a', 'b', 'c'], TINY)
    assert set(res) == {'aAcc', 'mIoU', 'mAcc', 'IoU.a', 'IoU.b', 'IoU.c'}
    assert res['mIoU'] == 61.67


def test_absent_class_is_nan_and_excluded_from_means():
    # class d appears nowhere; class e only in a prediction (IoU 0, counted)
    # e predicted on an ignored pixel (not counted) and on a b pixel
    pairs = TINY + [([[4, 4]], [[255, 1]])]
    metric = SubsetIoUMetric(
        class_subsets=dict(ad=['a', 'd'], only_d=['d'], be=['b', 'e']))
    res = _evaluate(metric, ['a', 'b', 'c', 'd', 'e'], pairs)
    assert math.isnan(res['IoU.d'])
    assert res['IoU.e'] == 0.0
    assert res['IoU.b'] == 60.0  # gt 4, pred 4, inter 3 -> union 5
    assert res['ad'] == 60.0
    assert math.isnan(res['only_d'])
    assert res['be'] == 30.0
    assert res['mIoU'] == round((60 + 60 + 50 + 0) / 4, 2)


def test_predefined_cityscapes_subsets_by_key():
    from clst_mmseg.datasets.cityscapes_labels import CLASS_SUBSETS
    metric = SubsetIoUMetric(class_subsets=['mIoU16', 'mIoU13'])
    assert metric.class_subsets == dict(
        mIoU16=CLASS_SUBSETS['mIoU16'], mIoU13=CLASS_SUBSETS['mIoU13'])
    assert len(metric.class_subsets['mIoU16']) == 16
    assert len(metric.class_subsets['mIoU13']) == 13
    with pytest.raises(ValueError, match=r"unknown subset.*'mIoU17'"):
        SubsetIoUMetric(class_subsets=['mIoU17'])


def test_unknown_class_name_raises_clear_error():
    metric = SubsetIoUMetric(class_subsets=dict(mIoU16=['a', 'trian']))
    with pytest.raises(ValueError, match=r"mIoU16.*'trian'.*valid names"):
        metric.dataset_meta = dict(classes=('a', 'b'))


@pytest.mark.parametrize(
    'subsets', [dict(mIoU=['a']),
                dict(s='a'), dict(s=[]), ['a'], 'mIoU16'])
def test_malformed_subsets_raise(subsets):
    with pytest.raises(ValueError, match='class_subsets'):
        SubsetIoUMetric(class_subsets=subsets)


def test_iou_metrics_must_contain_miou():
    with pytest.raises(ValueError, match='mIoU'):
        SubsetIoUMetric(iou_metrics=['mDice'])


# --------------------------------------------------------------------------
# agreement with cityscapesscripts
# --------------------------------------------------------------------------
def _cityscapes_setup():
    from cityscapesscripts.helpers.labels import trainId2label
    names = [trainId2label[t].name for t in range(19)]
    lut = np.zeros(256, dtype=np.uint8)
    for t in range(19):
        lut[t] = trainId2label[t].id
    ignore = trainId2label[255]
    assert ignore.ignoreInEval, ignore
    lut[255] = ignore.id
    return names, lut


def _random_pairs(num_images=4, h=32, w=64, seed=0):
    """Blocky GT with 255 regions and noisy predictions; 'train' (16) occurs
    nowhere, 'truck' (14) only in predictions."""
    rng = np.random.default_rng(seed)
    gt_classes = np.array([c for c in range(19) if c not in (14, 16)])
    pred_classes = np.array([c for c in range(19) if c != 16])
    pairs = []
    for _ in range(num_images):
        blocks = rng.choice(gt_classes, size=(h // 8, w // 8))
        gt = np.kron(blocks, np.ones((8, 8), dtype=np.int64))
        gt[rng.random((h, w)) < 0.1] = 255
        pred = np.where(gt == 255, 0, gt)
        noisy = rng.random((h, w)) < 0.3
        pred[noisy] = rng.choice(pred_classes, size=int(noisy.sum()))
        pairs.append((pred.astype(np.uint8), gt.astype(np.uint8)))
    return pairs


def _cityscapes_eval(pairs, lut, tmp_path):
    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as ev
    gt_dir = tmp_path / 'gtFine' / 'val' / 'frankfurt'
    pred_dir = tmp_path / 'results'
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir()
    gt_files = []
    for i, (pred, gt) in enumerate(pairs):
        stem = f'frankfurt_000000_{i:06d}'
        Image.fromarray(lut[gt]).save(gt_dir / f'{stem}_gtFine_labelIds.png')
        Image.fromarray(lut[pred]).save(pred_dir / f'{stem}_pred.png')
        gt_files.append(str(gt_dir / f'{stem}_gtFine_labelIds.png'))

    args = copy.copy(ev.args)  # leave the module-level object untouched
    args.cityscapesPath = str(tmp_path)
    args.predictionPath = str(pred_dir)
    args.predictionWalk = None
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    args.exportFile = str(tmp_path / 'result.json')
    pred_files = [ev.getPrediction(args, f) for f in gt_files]
    return ev.evaluateImgLists(pred_files, gt_files, args)


def test_agrees_with_cityscapesscripts(tmp_path):
    names, lut = _cityscapes_setup()
    subset16 = [n for n in names if n not in ('terrain', 'truck', 'train')]
    subset13 = [n for n in subset16 if n not in ('wall', 'fence', 'pole')]
    pairs = _random_pairs()

    ref = _cityscapes_eval(pairs, lut, tmp_path)
    metric = SubsetIoUMetric(
        class_subsets=dict(mIoU16=subset16, mIoU13=subset13))
    ours = _evaluate(metric, names, pairs)

    ref_iou = {n: 100 * ref['classScores'][n] for n in names}
    assert math.isnan(ref_iou['train']) and math.isnan(ours['IoU.train'])
    assert ref_iou['truck'] == 0.0 and ours['IoU.truck'] == 0.0
    for n in names:
        if not math.isnan(ref_iou[n]):
            assert ours[f'IoU.{n}'] == pytest.approx(ref_iou[n], abs=1e-2), n
    assert ours['mIoU'] == pytest.approx(100 * ref['averageScoreClasses'],
                                         abs=1e-2)
    for key, subset in (('mIoU16', subset16), ('mIoU13', subset13)):
        expected = np.nanmean([ref_iou[n] for n in subset])
        assert ours[key] == pytest.approx(expected, abs=1e-2), key
