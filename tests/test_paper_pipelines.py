"""The data protocols of the paper-scale configs, run on images of the real
datasets' sizes: what a training sample and an evaluation sample look like
(shapes, no flip, the label resolution DACS scores at)."""
import os.path as osp

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import clst_mmseg  # noqa: F401
from clst_mmseg.datasets.transforms import ResizeLabelsForEval
from conftest import ROOT

init_default_scope('mmseg')


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    """A GTA5-sized (1914x1052), a SYNTHIA-sized (1280x760) and a
    Cityscapes-sized (2048x1024) image with a label map."""
    folder = tmp_path_factory.mktemp('frames')
    rng = np.random.default_rng(0)
    out = {}
    for name, (w, h) in dict(gta=(1914, 1052), synthia=(1280, 760),
                             cityscapes=(2048, 1024)).items():
        img = osp.join(folder, f'{name}.png')
        lab = osp.join(folder, f'{name}_label.png')
        Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)).save(img)
        label = (np.arange(w)[None, :] * 19 // w).repeat(h, 0)
        Image.fromarray(label.astype(np.uint8)).save(lab)
        out[name] = (img, lab)
    return out


def _sample(pipeline, frame):
    img, lab = frame
    return Compose(pipeline)(dict(img_path=img, seg_map_path=lab,
                                  reduce_zero_label=False, seg_fields=[],
                                  sample_idx=0))


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


@pytest.mark.parametrize('task, source', [('gta2cs', 'gta'),
                                          ('synthia2cs', 'synthia')])
def test_dacs_crops_both_domains_without_flip(frames, task, source):
    cfg = _cfg(f'configs/dacs/{task}.py')
    ds = cfg.train_dataloader.dataset
    for pipeline, frame in ((ds.source.pipeline, frames[source]),
                            (ds.target.pipeline, frames['cityscapes'])):
        for _ in range(3):
            out = _sample(pipeline, frame)
            assert tuple(out['inputs'].shape) == (3, 512, 512)
            assert not out['data_samples'].metainfo.get('flip', False)
    assert cfg.model.data_preprocessor.size == (512, 512)


def test_dacs_validates_at_512x1024_labels_and_tests_at_full(frames):
    cfg = _cfg('configs/dacs/gta2cs.py')
    val = _sample(cfg.val_dataloader.dataset.pipeline, frames['cityscapes'])
    test = _sample(cfg.test_dataloader.dataset.pipeline,
                   frames['cityscapes'])
    for out in (val, test):
        assert tuple(out['inputs'].shape) == (3, 512, 1024)
    assert val['data_samples'].gt_sem_seg.data.shape[1:] == (512, 1024)
    assert val['data_samples'].metainfo['ori_shape'] == (512, 1024)
    assert test['data_samples'].gt_sem_seg.data.shape[1:] == (1024, 2048)
    assert test['data_samples'].metainfo['ori_shape'] == (1024, 2048)
    # nearest neighbour: the label columns keep their classes
    got = val['data_samples'].gt_sem_seg.data[0, 0].numpy()
    want = (np.arange(1024) * 2 * 19 // 2048).astype(np.uint8)
    assert (got == want).mean() > 0.99


@pytest.mark.parametrize('method', ['adaptsegnet', 'advent'])
@pytest.mark.parametrize('task, source, size', [
    ('gta2cs', 'gta', (720, 1280)), ('synthia2cs', 'synthia', (760, 1280))])
def test_adaptsegnet_and_advent_take_whole_frames(frames, method, task,
                                                  source, size):
    cfg = _cfg(f'configs/{method}/{task}.py')
    ds = cfg.train_dataloader.dataset
    src = _sample(ds.source.pipeline, frames[source])
    tgt = _sample(ds.target.pipeline, frames['cityscapes'])
    assert tuple(src['inputs'].shape) == (3, ) + size
    assert src['data_samples'].gt_sem_seg.data.shape[1:] == size
    assert tuple(tgt['inputs'].shape) == (3, 512, 1024)
    for out in (src, tgt):
        assert not out['data_samples'].metainfo.get('flip', False)
    assert cfg.train_dataloader.batch_size == 1


def test_resize_labels_for_eval_needs_labels():
    t = ResizeLabelsForEval(scale=(1024, 512))
    assert repr(t) == 'ResizeLabelsForEval(scale=(1024, 512))'
    with pytest.raises(KeyError, match='put it after LoadAnnotations'):
        t(dict(img=np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(ValueError, match=r'scale must be \(w, h\)'):
        ResizeLabelsForEval(scale=(1024, ))


def _raw_batch(n, size=64, seed=0):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)

    def imgs():
        return [torch.randint(0, 256, (3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(n)]

    def samples(labelled):
        out = []
        for _ in range(n):
            s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                            ori_shape=(size, size)))
            if labelled:
                s.gt_sem_seg = PixelData(data=torch.randint(
                    0, 19, (1, size, size), generator=g))
            out.append(s)
        return out

    return dict(inputs=imgs(), data_samples=samples(True),
                target_inputs=imgs(), target_data_samples=samples(False))


@pytest.mark.parametrize('config', ['configs/adaptsegnet/gta2cs.py',
                                    'configs/advent/gta2cs_advent.py',
                                    'configs/dacs/gta2cs.py'])
def test_paper_model_trains_with_the_reference_bn_mode(config):
    """One training step of the paper model (64x64 inputs, random init):
    BN normalises with batch statistics and updates its running statistics
    (train mode) while its affine parameters stay frozen, as in the
    reference codes."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    cfg = _cfg(config)
    cfg.model.data_preprocessor.size = (64, 64)  # not 512 px: CPU time
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    bn = model.segmentor.backbone.layer4[0].bn1
    mean, weight = bn.running_mean.clone(), bn.weight.clone()
    model.train()
    losses = model.train_step(
        _raw_batch(cfg.train_dataloader.batch_size), wrapper)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert not torch.equal(bn.running_mean, mean)
    torch.testing.assert_close(bn.weight, weight, rtol=0, atol=0)
    assert not bn.weight.requires_grad
    head = model.segmentor.decode_head
    assert len(head.aspp) == (2 if head.branch_mode == 'first_two' else 4)
