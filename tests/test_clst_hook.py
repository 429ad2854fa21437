"""TemporalEnsembleHook without a runner: pseudo-labels written into the
augmented frame, ensemble updates from the model's feed, checkpoint
round trip."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmseg.structures import SegDataSample

import clst_mmseg  # noqa: F401
from clst_mmseg.engine.hooks import TemporalEnsembleHook
from clst_mmseg.models.utils import confidence_threshold
from clst_mmseg.models.utils.ensemble_memory import AugGeometry


class _Model:
    num_classes = 3
    needs_ensemble = True

    def __init__(self, selection, memmap_dir=None):
        self.ensemble_cfg = dict(momentum=0.5, memory_size=(2, 2),
                                 memmap_dir=memmap_dir)
        self.pseudo_label_cfg = selection
        self.feed = None

    def pop_ensemble_feed(self):
        feed, self.feed = self.feed, None
        return feed


def _runner(model, n_images=4, it=0):
    return SimpleNamespace(
        model=model, iter=it,
        train_dataloader=SimpleNamespace(dataset=SimpleNamespace(
            target=list(range(n_images)))),
        logger=logging.getLogger('test'),
        message_hub=MessageHub.get_instance('test_clst_hook'))


def _sample(idx, flip=None):
    return SegDataSample(metainfo=dict(
        sample_idx=idx, ori_shape=(4, 4), img_shape=(4, 4), flip=bool(flip),
        flip_direction=flip))


def _probs(labels, conf):
    """(3, 2, 2) probabilities with ``conf`` on ``labels``."""
    labels = torch.tensor(labels)
    p = torch.full((3, 2, 2), 0.0)
    p.scatter_(0, labels[None], torch.tensor(conf).float()[None])
    rest = (1 - torch.tensor(conf).float()) / 2
    return torch.where(p > 0, p, rest[None].expand(3, 2, 2))


def test_feed_update_and_pseudo_labels_in_the_augmented_frame():
    model = _Model(dict(type='threshold', threshold=0.8))
    hook = TemporalEnsembleHook()
    runner = _runner(model)
    hook.before_train(runner)
    # image 1 was seen flipped: in its own frame class 0 is on the right
    probs = _probs([[1, 0], [2, 2]], [[0.9, 0.9], [0.6, 0.95]])
    model.feed = dict(probs=probs[None], indices=[1],
                      geometry=[AugGeometry((4, 4), (1., 1.), (0, 0), (4, 4),
                                            'horizontal')],
                      input_shape=(4, 4))
    hook.after_train_iter(runner, 0)
    labels, conf, stored = hook.memory.read(1)
    assert labels.tolist() == [[0, 1], [2, 2]] and stored.all()
    assert not hook.memory.read(0)[2].any()
    # read back for an unflipped view at input resolution, with the 0.8
    # threshold, as SelfTraining reads its network's output: bilinear
    # resize of the logits (here the log of the represented distribution)
    # to the input size, softmax, threshold
    batch = dict(target_data_samples=[_sample(1), _sample(0)])
    hook.before_train_iter(runner, 0, batch)
    s1, s0 = batch['target_data_samples']
    logits = hook.memory.represented(hook.memory.codes[1]).float().log()
    probs = F.interpolate(logits[None], size=(4, 4), mode='bilinear',
                          align_corners=False).softmax(1)
    expected, conf = confidence_threshold(probs, 0.8)
    assert torch.equal(s1.gt_sem_seg.data, expected)
    assert torch.allclose(s1.ensemble_seg.conf, conf, atol=1e-6)
    assert torch.equal(s1.ensemble_seg.label, probs.argmax(1))
    # the corners are the cells themselves; the 0.6-confident cell (now on
    # the right) and its interpolated neighbours fall below 0.8
    assert s1.gt_sem_seg.data[0, 0].tolist()[0] == 0
    assert s1.gt_sem_seg.data[0, 0].tolist()[3] == 1
    assert s1.gt_sem_seg.data[0, 3, 3] == 255
    assert s1.ensemble_seg.label[0, 3].tolist() == [2, 2, 2, 2]
    assert s1.ensemble_seg.conf[0, 3, 3].item() == pytest.approx(0.6,
                                                                  abs=1e-3)
    assert (s0.gt_sem_seg.data == 255).all()
    assert (s0.ensemble_seg.conf == 0).all()


def test_labels_skip_the_warm_up_and_cover_each_sample_frame():
    model = _Model(dict(type='threshold', threshold=0.5))
    hook = TemporalEnsembleHook()
    runner = _runner(model)
    hook.before_train(runner)
    hook.memory.update(0, _probs([[1, 1], [1, 1]], [[0.9] * 2] * 2))
    model.wants_ensemble_labels = lambda: False
    batch = dict(target_data_samples=[_sample(0)])
    hook.before_train_iter(runner, 0, batch)
    assert 'gt_sem_seg' not in batch['target_data_samples'][0]
    model.wants_ensemble_labels = lambda: True
    small = SegDataSample(metainfo=dict(
        sample_idx=0, ori_shape=(4, 4), img_shape=(2, 3), flip=False,
        flip_direction=None, scale_factor=(0.75, 0.5)))
    batch = dict(target_data_samples=[_sample(0), small])
    hook.before_train_iter(runner, 0, batch)
    big, small = batch['target_data_samples']
    assert big.gt_sem_seg.data.shape == (1, 4, 4)
    assert small.gt_sem_seg.data.shape == small.ensemble_seg.conf.shape == (
        1, 2, 3)
    assert (small.gt_sem_seg.data == 1).all()


def test_class_balanced_selection_uses_the_whole_memory():
    model = _Model(dict(type='class_balanced', portion=0.5,
                        max_threshold=None))
    hook = TemporalEnsembleHook()
    runner = _runner(model)
    hook.before_train(runner)
    for i, c in enumerate((0.5, 0.6, 0.7, 0.8)):
        hook.memory.update(i, _probs([[0, 0], [0, 0]], [[c] * 2] * 2))
    batch = dict(target_data_samples=[_sample(i) for i in range(4)])
    hook.before_train_iter(runner, 0, batch)
    # rank floor(0.5 * 16) = 8 of the sorted confidences -> 0.6
    assert hook.thresholds[0].item() == pytest.approx(0.6, abs=1e-3)
    kept = [bool((s.gt_sem_seg.data != 255).all())
            for s in batch['target_data_samples']]
    assert kept == [False, True, True, True]


def test_checkpoint_round_trip_before_and_after_set_up(tmp_path):
    model = _Model(dict(type='threshold', threshold=0.5),
                   memmap_dir=str(tmp_path))
    hook = TemporalEnsembleHook()
    runner = _runner(model)
    hook.before_train(runner)
    assert (tmp_path / 'temporal_ensemble_rank0.int16').exists()
    hook.memory.update(2, _probs([[1, 1], [1, 2]], [[0.7] * 2] * 2))
    ckpt = {}
    hook.before_save_checkpoint(runner, ckpt)
    saved = ckpt['temporal_ensemble']['memory']['codes']
    assert saved.dtype == torch.int16 and (saved[2] != 0).all()
    # a new hook gets the checkpoint before its memory exists (resume)
    fresh = TemporalEnsembleHook()
    fresh.after_load_checkpoint(runner, ckpt)
    fresh.before_train(_runner(_Model(dict(type='threshold',
                                            threshold=0.5))))
    assert torch.equal(fresh.memory.codes, hook.memory.codes)
    # a target set of another size is refused with a clear message
    other = TemporalEnsembleHook()
    other.after_load_checkpoint(runner, ckpt)
    with pytest.raises(ValueError, match='does not fit'):
        other.before_train(_runner(model, n_images=5))


def test_wrong_model_or_dataset_fail_clearly():
    hook = TemporalEnsembleHook()
    with pytest.raises(TypeError, match='ensemble_cfg'):
        hook.before_train(_runner(object()))
    runner = _runner(_Model(dict(type='threshold', threshold=0.5)))
    runner.train_dataloader.dataset = [1, 2]
    with pytest.raises(TypeError, match='UDADataset'):
        hook.before_train(runner)


def _clst_mini_cfg():
    from mmengine.config import Config

    from conftest import ROOT
    return Config.fromfile(f'{ROOT}/configs/clst/mini.py')


@pytest.mark.parametrize('index,transform,line', [
    (2, dict(type='RandomCrop', crop_size=(64, 64)),
     'train_dataloader.dataset.target.pipeline[2]: RandomCrop does not '
     'record its crop box, which TemporalEnsembleHook needs; use '
     'RecordedRandomCrop (same arguments)'),
    (4, dict(type='PackSegInputs'),
     'train_dataloader.dataset.target.pipeline[4]: PackSegInputs drops the '
     'sample index and crop box, which TemporalEnsembleHook needs; use '
     'PackUDAInputs'),
    (1, dict(type='RandomFlip', prob=0.5),
     'train_dataloader.dataset.target.pipeline[2]: RandomResize comes '
     'after a flip; TemporalEnsembleHook needs resize -> crop -> flip in '
     'this order'),
    (2, dict(type='RandomRotate', prob=0.5, degree=10),
     'train_dataloader.dataset.target.pipeline[2]: RandomRotate is a '
     'geometric transform TemporalEnsembleHook cannot undo; it maps resize '
     '-> RecordedRandomCrop -> RandomFlip only'),
])
def test_a_target_pipeline_without_recorded_geometry_fails_before_training(
        index, transform, line):
    from clst_mmseg.apis import prepare_run
    from clst_mmseg.engine.hooks import check_ensemble_pipeline
    cfg = _clst_mini_cfg()
    pipeline = cfg.train_dataloader.dataset.target.pipeline
    check_ensemble_pipeline(cfg)  # the config as shipped passes
    if transform['type'] in ('RandomCrop', 'PackSegInputs'):
        pipeline[index] = transform  # replaces its recorded counterpart
    else:
        pipeline.insert(index, transform)
    with pytest.raises(ValueError) as err:
        prepare_run(cfg, verify=False)
    assert str(err.value) == line
    # the same pipeline without the ensemble hook is not checked
    cfg.custom_hooks = [dict(type='RNGStateHook')]
    check_ensemble_pipeline(cfg)


def test_a_target_pipeline_must_end_with_pack_uda_inputs():
    from clst_mmseg.engine.hooks import check_ensemble_pipeline
    cfg = _clst_mini_cfg()
    cfg.train_dataloader.dataset.target.pipeline.pop()
    with pytest.raises(ValueError) as err:
        check_ensemble_pipeline(cfg)
    assert str(err.value) == (
        'train_dataloader.dataset.target.pipeline: must end with '
        'PackUDAInputs (it keeps the sample index and geometry '
        'TemporalEnsembleHook needs), got RandomFlip')


def test_every_shipped_clst_config_records_its_target_geometry():
    import glob

    from mmengine.config import Config

    from clst_mmseg.engine.hooks import check_ensemble_pipeline
    from conftest import ROOT
    paths = glob.glob(f'{ROOT}/configs/clst/**/*.py', recursive=True)
    assert len(paths) >= 9
    for path in paths:
        check_ensemble_pipeline(Config.fromfile(path))
