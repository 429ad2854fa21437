"""Converters, verification and loaders of the real datasets (GTA5, SYNTHIA,
Cityscapes), on tiny fixtures in the official on-disk layouts."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import clst_mmseg  # noqa: F401  (before mmseg: compat layer)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from clst_mmseg.datasets import gta, synthia  # noqa: F401  (register)
from clst_mmseg.datasets.cityscapes_labels import (CITYSCAPES_CLASSES,
                                                   CITYSCAPES_PALETTE,
                                                   CLASS_SUBSETS,
                                                   label_id_to_train_id_lut)
from clst_mmseg.datasets.synthia_labels import (load_synthia_label_map,
                                                synthia_id_to_train_id_lut)
from clst_mmseg.datasets.verify import (DatasetVerificationError,
                                        verify_config, verify_dataset)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from fixtures_real_layouts import (CS_ID_TO_TRAIN, SYNTHIA_ID_TO_TRAIN,  # noqa
                                   H, W, make_cityscapes, make_gta,
                                   make_synthia)

init_default_scope('mmseg')  # pipelines resolve mmseg's transforms

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


def _tool(rel_path):
    """Import a tools/ script as a module."""
    path = osp.join(REPO, rel_path)
    name = 'tool_' + rel_path.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tools():
    return {
        name: _tool(f'tools/convert_datasets/{name}.py')
        for name in ('gta', 'synthia', 'cityscapes')
    }


def _assert_converted(fx):
    for src, (dst, expected) in fx.expected.items():
        assert osp.isfile(dst), dst
        with Image.open(dst) as img:
            assert img.mode == 'L'
            out = np.array(img)
        np.testing.assert_array_equal(out, expected, err_msg=dst)


def _convert(tools, name, root, *extra):
    return tools[name].main([root, '--nproc', '1', *extra])


# --------------------------------------------------------------- label tables
def test_label_tables():
    assert len(CITYSCAPES_CLASSES) == 19 and len(CITYSCAPES_PALETTE) == 19
    assert CITYSCAPES_CLASSES[0] == 'road' and CITYSCAPES_CLASSES[18] == \
        'bicycle'
    assert CITYSCAPES_PALETTE[0] == [128, 64, 128]
    assert len(CLASS_SUBSETS['mIoU16']) == 16
    assert len(CLASS_SUBSETS['mIoU13']) == 13
    assert not {'terrain', 'truck', 'train'} & set(CLASS_SUBSETS['mIoU16'])
    assert not {'wall', 'fence', 'pole'} & set(CLASS_SUBSETS['mIoU13'])
    lut = label_id_to_train_id_lut()
    assert lut.dtype == np.uint8 and lut.shape == (256, )
    for label_id, train_id in CS_ID_TO_TRAIN.items():
        assert lut[label_id] == train_id, label_id
    slut = synthia_id_to_train_id_lut()
    for sid, train_id in SYNTHIA_ID_TO_TRAIN.items():
        assert slut[sid] == train_id, sid
    assert len(load_synthia_label_map()) == 23


# ----------------------------------------------------------------- converters
def test_gta_converter(tmp_path, tools, capsys):
    fx = make_gta(str(tmp_path / 'gta'))
    assert _convert(tools, 'gta', fx.root) == 0
    _assert_converted(fx)
    # Known pixels: pattern starts at id 0 for file 00000, row-major.
    ids = sorted(CS_ID_TO_TRAIN)
    out = np.array(Image.open(fx.expected[sorted(fx.expected)[0]][0]))
    assert out[0, ids.index(11)] == 2  # building
    assert out[0, ids.index(33)] == 18  # bicycle
    assert out[0, ids.index(9)] == 255  # parking is ignored
    assert 'converted 3, skipped 0' in capsys.readouterr().out


def test_synthia_converter_channels(tmp_path, tools):
    fx = make_synthia(str(tmp_path / 'synthia'))
    assert _convert(tools, 'synthia', fx.root) == 0
    _assert_converted(fx)
    out = np.array(Image.open(sorted(v[0] for v in fx.expected.values())[0]))
    ids = sorted(SYNTHIA_ID_TO_TRAIN)
    assert out[0, ids.index(3)] == 0  # road
    assert out[0, ids.index(21)] == 3  # wall
    assert out[0, ids.index(16)] == 255  # terrain is ignored


def test_cityscapes_converter_subprocess(tmp_path):
    fx = make_cityscapes(str(tmp_path / 'cityscapes'))
    proc = subprocess.run(
        [sys.executable, 'tools/convert_datasets/cityscapes.py', fx.root,
         '--nproc', '2'],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'converted 3, skipped 0' in proc.stdout
    _assert_converted(fx)
    written = sorted(
        f for _, _, files in os.walk(fx.root) for f in files
        if f.endswith('TrainIds.png'))
    assert written == sorted(
        osp.basename(v[0]) for v in fx.expected.values())


def test_converter_is_idempotent(tmp_path, tools, capsys):
    fx = make_gta(str(tmp_path / 'gta'))
    assert _convert(tools, 'gta', fx.root) == 0
    outputs = [v[0] for v in fx.expected.values()]
    mtimes = [os.stat(p).st_mtime_ns for p in outputs]
    capsys.readouterr()
    assert _convert(tools, 'gta', fx.root) == 0
    assert 'converted 0, skipped 3' in capsys.readouterr().out
    assert [os.stat(p).st_mtime_ns for p in outputs] == mtimes
    # A source newer than its output is converted again.
    src = sorted(fx.expected)[0]
    st = os.stat(outputs[0])
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert _convert(tools, 'gta', fx.root) == 0
    assert 'converted 1, skipped 2' in capsys.readouterr().out


def test_converter_errors(tmp_path, tools, capsys):
    assert _convert(tools, 'gta', str(tmp_path / 'nope')) == 1
    assert 'nope does not exist' in capsys.readouterr().out
    fx = make_gta(str(tmp_path / 'gta'))
    bad = sorted(fx.expected)[0]
    Image.new('RGB', (W, H)).save(bad)  # colour label: not label ids
    assert _convert(tools, 'gta', fx.root) == 1
    out = capsys.readouterr().out
    assert 'converted 2, skipped 0' in out and 'failed 1' in out
    assert f'{bad}: expected a single-channel label-id PNG' in out


# --------------------------------------------------------------------- verify
def _gta_cfg(root, **kw):
    return dict(type='GTADataset', data_root=root, **kw)


@pytest.fixture
def gta_root(tmp_path, tools):
    fx = make_gta(str(tmp_path / 'gta'))
    assert _convert(tools, 'gta', fx.root) == 0
    return fx


def test_verify_good_roots(tmp_path, tools, gta_root):
    """The tiny fixtures are deliberate subsets of the official datasets:
    consistent, but held to the official counts only without
    allow_partial."""
    assert verify_dataset(_gta_cfg(gta_root.root), allow_partial=True) == [
        'GTA5 (Playing for Data): 2 of 24,966 images (partial: allowed)']
    syn = make_synthia(str(tmp_path / 'synthia'))
    _convert(tools, 'synthia', syn.root)
    verify_dataset(dict(type='SynthiaDataset', data_root=syn.root),
                   allow_partial=True)
    cs = make_cityscapes(str(tmp_path / 'cs'))
    _convert(tools, 'cityscapes', cs.root)
    for split in ('train', 'val'):
        verify_dataset(
            dict(type='CityscapesDataset', data_root=cs.root,
                 data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                  seg_map_path=f'gtFine/{split}')),
            allow_partial=True)
    with pytest.raises(DatasetVerificationError) as e:
        verify_dataset(_gta_cfg(gta_root.root))
    assert any('GTA5 (Playing for Data) part 01 (00001-02500): 2,498 of '
               '2,500 images missing (00003-02500)' in p
               for p in e.value.problems)
    whole = next(p for p in e.value.problems if 'parts 02-10' in p)
    assert whole == ('GTA5 (Playing for Data) parts 02-10 (02501-24966): '
                     'all 22,466 images missing')
    assert whole.fix.startswith('download 02_images.zip ... 10_images.zip '
                                'and their labels archives from https://')


def test_verify_missing_root_and_folder(tmp_path, gta_root):
    missing = str(tmp_path / 'missing')
    with pytest.raises(DatasetVerificationError, match='missing: data_root'):
        verify_dataset(_gta_cfg(missing))
    with pytest.raises(DatasetVerificationError,
                       match=r'gta/labelz: label folder does not exist'):
        verify_dataset(
            _gta_cfg(gta_root.root,
                     data_prefix=dict(img_path='images',
                                      seg_map_path='labelz')))
    # Without labels required, a missing label folder is fine.
    verify_dataset(
        _gta_cfg(gta_root.root,
                 data_prefix=dict(img_path='images', seg_map_path='labelz')),
        require_labels=False, allow_partial=True)


def test_verify_missing_label(gta_root):
    """A converted label missing beside its official label: one line with
    the converter's command (not one per file); a folder dataset of no
    official download: one line per file."""
    dst = gta_root.expected[sorted(gta_root.expected)[1]][0]
    os.remove(dst)
    with pytest.raises(DatasetVerificationError) as e:
        verify_dataset(_gta_cfg(gta_root.root), allow_partial=True)
    assert e.value.problems == [
        '1 GTA5 (Playing for Data) label(s) not converted (the official '
        'labels are there, no *_labelTrainIds.png: 00001)']
    assert e.value.problems[0].fix == (
        f'python tools/convert_datasets/gta.py {gta_root.root}')
    assert f'      fix: python tools/convert_datasets/gta.py ' \
        f'{gta_root.root}' in str(e.value)
    verify_dataset(_gta_cfg(gta_root.root), require_labels=False,
                   allow_partial=True)
    # the official label gone too: the archive that holds it
    os.remove(sorted(gta_root.expected)[1])
    with pytest.raises(DatasetVerificationError) as e:
        verify_dataset(_gta_cfg(gta_root.root), allow_partial=True)
    assert e.value.problems == [
        'GTA5 (Playing for Data) part 01 (00001-02500): 1 official label(s) '
        'missing (00001)']
    assert e.value.problems[0].fix.startswith(
        'download 01_labels.zip from https://download.visinf.tu-darmstadt.'
        'de/data/from_games/')
    # a dataset of no official download keeps the per-file line
    with pytest.raises(DatasetVerificationError) as e:
        verify_dataset(dict(type='BaseSegDataset', data_root=gta_root.root,
                            data_prefix=dict(img_path='images',
                                             seg_map_path='labels'),
                            img_suffix='.png',
                            seg_map_suffix='_labelTrainIds.png',
                            metainfo=dict(classes=CITYSCAPES_CLASSES)))
    assert e.value.problems == [
        f'{dst}: missing label file (expected for {gta_root.images[1]})']


def test_verify_out_of_range_value(gta_root):
    dst = gta_root.expected[sorted(gta_root.expected)[0]][0]
    label = np.array(Image.open(dst))
    label[0, 0], label[1, 1] = 19, 254
    Image.fromarray(label).save(dst)
    with pytest.raises(DatasetVerificationError,
                       match=r'labelTrainIds.png: label values \{19, 254\} '
                       r'outside 0..18 and 255'):
        verify_dataset(_gta_cfg(gta_root.root), allow_partial=True)
    # An explicit num_classes widens or narrows the allowed range.
    verify_dataset(_gta_cfg(gta_root.root), num_classes=255,
                   allow_partial=True)
    # Sampling one file (the middle one) skips the broken first file.
    verify_dataset(_gta_cfg(gta_root.root), max_label_checks=1,
                   allow_partial=True)


def test_gta_size_mismatch_resized_as_the_official_loaders(tmp_path, tools,
                                                          capsys):
    """A GTA5 label whose size differs from its image's: the converter
    stretches the trainId label over the image (nearest neighbour), as the
    official loaders do when they load the pair, and says so; verify
    reports a mismatch it finds (here: a label written by hand)."""
    fx = make_gta(str(tmp_path / 'gta'), size_mismatch=True)
    assert _convert(tools, 'gta', fx.root) == 0
    out = capsys.readouterr().out
    src = sorted(fx.expected)[2]
    assert '1 of the converted resized to their image\'s size' in out
    assert ('1 label(s) did not have their image\'s size and were resized '
            'to it (nearest neighbour), as the official loaders do') in out
    assert f'  resized: {src}: label 32x16 -> image 34x16' in out
    dst, train_ids = fx.expected[src]
    with Image.open(dst) as img:
        assert img.size == (W + 2, H)
        resized = np.array(img)
    np.testing.assert_array_equal(
        resized, np.array(Image.fromarray(train_ids).resize(
            (W + 2, H), Image.NEAREST)))
    verify_dataset(_gta_cfg(fx.root), allow_partial=True)
    Image.fromarray(train_ids).save(dst)  # the unresized label
    with pytest.raises(DatasetVerificationError) as e:
        verify_dataset(_gta_cfg(fx.root), allow_partial=True)
    assert e.value.problems == [
        f'{fx.root}/labels/00002_labelTrainIds.png: label size 32x16 != '
        f'image size 34x16 of {fx.images[2]}'
    ]


def test_verify_unknown_type_and_many_problems(gta_root):
    with pytest.raises(DatasetVerificationError,
                       match="unknown dataset type 'NoSuchDataset'"):
        verify_dataset(dict(type='NoSuchDataset', data_root=gta_root.root))
    # Many problems: message is capped, count is reported.
    img_dir = osp.join(gta_root.root, 'images')
    for k in range(3, 30):
        Image.new('RGB', (W, H)).save(osp.join(img_dir, f'{k:05d}.png'))
        Image.new('L', (W + 1, H)).save(
            osp.join(gta_root.root, 'labels', f'{k:05d}_labelTrainIds.png'))
    with pytest.raises(DatasetVerificationError) as e:
        verify_dataset(_gta_cfg(gta_root.root), allow_partial=True)
    assert len(e.value.problems) == 27
    assert '27 problem(s)' in str(e.value) and '... and 7 more' in str(
        e.value)


def test_metainfo_override_new_label_set(gta_root):
    classes = ('a', 'b', 'c', 'd', 'e', 'f')
    ds = DATASETS.build(
        _gta_cfg(gta_root.root, metainfo=dict(classes=classes),
                 pipeline=PIPELINE))
    assert ds.metainfo['classes'] == classes
    assert ds.label_map is None and len(ds.metainfo['palette']) == 6
    first = gta_root.expected[sorted(gta_root.expected)[0]][1]
    np.testing.assert_array_equal(
        ds[0]['data_samples'].gt_sem_seg.data[0].numpy(), first)
    # Labels of the fixture go up to 18: outside a 6-class label set.
    with pytest.raises(DatasetVerificationError, match='outside 0..5 and 255'):
        verify_dataset(_gta_cfg(gta_root.root, metainfo=dict(classes=classes)),
                       allow_partial=True)
    # A subset of the 19 keeps mmseg's remapping.
    sub = DATASETS.build(
        _gta_cfg(gta_root.root, metainfo=dict(classes=('road', 'car'))))
    assert sub.label_map[0] == 0 and sub.label_map[13] == 1
    verify_dataset(_gta_cfg(gta_root.root, metainfo=dict(classes=('road', ))),
                   allow_partial=True)


def _uda_config(src_root, tgt_root, num_classes=19, target_prefix=None):
    target = dict(
        type='CityscapesDataset', data_root=tgt_root,
        data_prefix=target_prefix or dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'))
    val = dict(type='CityscapesDataset', data_root=tgt_root,
               data_prefix=dict(img_path='leftImg8bit/val',
                                seg_map_path='gtFine/val'))
    return Config(
        dict(
            model=dict(
                type='SomeUDA',
                segmentor=dict(
                    type='EncoderDecoder',
                    decode_head=dict(type='X', num_classes=num_classes))),
            train_dataloader=dict(
                dataset=dict(type='UDADataset', source=dict(
                    type='ConcatDataset',
                    datasets=[_gta_cfg(src_root)]), target=target)),
            val_dataloader=dict(dataset=val),
            test_dataloader=dict(dataset=val)))


def test_verify_config(tmp_path, tools, gta_root):
    cs = make_cityscapes(str(tmp_path / 'cs'))
    # Unconverted target train labels are fine: the target needs none.
    _convert(tools, 'cityscapes', cs.root)
    for v in cs.expected.values():
        if '/train/' in v[0]:
            os.remove(v[0])
    verify_config(_uda_config(gta_root.root, cs.root), allow_partial=True)

    with pytest.raises(DatasetVerificationError) as e:
        verify_config(_uda_config(gta_root.root, cs.root, num_classes=6),
                      allow_partial=True)
    msg = str(e.value)
    assert ('model.segmentor.decode_head.num_classes=6 but '
            'train_dataloader.dataset.source.datasets[0] has 19 classes'
            ) in msg
    assert 'val_dataloader.dataset has 19 classes' in msg

    bad = _uda_config(gta_root.root, cs.root,
                      target_prefix=dict(img_path='leftImg8bit/nope'))
    bad.model = dict(type='EncoderDecoder',
                     decode_head=dict(type='X', num_classes=7))
    with pytest.raises(DatasetVerificationError) as e:
        verify_config(bad, allow_partial=True)
    assert e.value.problems[0].startswith(
        '[train_dataloader.dataset.target] ')
    assert 'leftImg8bit/nope: image folder does not exist' in \
        e.value.problems[0]
    assert any(p.startswith('model.decode_head.num_classes=7')
               for p in e.value.problems)


def test_verify_cli(tmp_path, gta_root, capsys):
    cli = _tool('tools/verify_dataset.py')
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        f'model = dict(decode_head=dict(num_classes=19))\n'
        f'train_dataloader = dict(dataset=dict(type="GTADataset", '
        f'data_root={gta_root.root!r}))\n')
    assert cli.main([str(cfg_file), '--allow-partial']) == 0
    assert capsys.readouterr().out.splitlines() == [
        '[train_dataloader.dataset] GTA5 (Playing for Data): 2 of 24,966 '
        'images (partial: allowed)', f'OK: {cfg_file}']
    assert cli.main([str(cfg_file), '--allow-partial', '--cfg-options',
                     'model.decode_head.num_classes=18']) == 1
    assert 'model.decode_head.num_classes=18 but train_dataloader.dataset ' \
        'has 19 classes' in capsys.readouterr().out


# -------------------------------------------------------------------- loaders
@pytest.mark.parametrize('name', ['gta', 'synthia', 'cityscapes'])
def test_loaders(tmp_path, tools, name):
    make = dict(gta=make_gta, synthia=make_synthia,
                cityscapes=make_cityscapes)[name]
    fx = make(str(tmp_path / name))
    assert _convert(tools, name, fx.root) == 0
    if name == 'cityscapes':
        cfg = dict(type='CityscapesDataset',
                   data_prefix=dict(img_path='leftImg8bit/train',
                                    seg_map_path='gtFine/train'))
        expected = [v for k, v in sorted(fx.expected.items())
                    if '/train/' in k]
    else:
        cfg = dict(type=dict(gta='GTADataset',
                             synthia='SynthiaDataset')[name])
        expected = [v for _, v in sorted(fx.expected.items())]
    ds = DATASETS.build(dict(cfg, data_root=fx.root, pipeline=PIPELINE))
    assert len(ds) == len(expected)
    assert ds.metainfo['classes'] == CITYSCAPES_CLASSES
    for i, (dst, train_ids) in enumerate(expected):
        item = ds[i]
        assert item['data_samples'].seg_map_path == dst
        assert item['inputs'].shape == (3, H, W)
        np.testing.assert_array_equal(
            item['data_samples'].gt_sem_seg.data[0].numpy(), train_ids)
