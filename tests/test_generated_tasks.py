"""What the built-in generated tasks (mini, adverse, aerial) share: argument
checks, the cache folder, the atomic cache wiring, the command line, and
the writer of their on-disk layout (clst_mmseg.datasets.generated_layout)."""
import json
import os
import os.path as osp

import numpy as np
import pytest

import clst_mmseg  # noqa: F401  (compat layer before mmseg)
from clst_mmseg.datasets import adverse, aerial, generated_cache, mini
from clst_mmseg.datasets.generated_layout import write_png, write_task

SMALL = dict(n_source=3, n_target_train=2, n_target_val=2, n_source_val=1)
# task -> (module, generate, ensure, version, completion marker)
TASKS = dict(
    mini=(mini, mini.generate_mini, mini.ensure_mini, mini.MINI_VERSION,
          mini.MARKER),
    adverse=(adverse, adverse.generate_adverse, adverse.ensure_adverse,
             adverse.ADVERSE_VERSION, generated_cache.MARKER),
    aerial=(aerial, aerial.generate_aerial, aerial.ensure_aerial,
            aerial.AERIAL_VERSION, generated_cache.MARKER))


@pytest.mark.parametrize('task', sorted(TASKS))
def test_bad_arguments(task, tmp_path):
    module, generate, *_ = TASKS[task]
    with pytest.raises(ValueError, match=f'{task}: domain must be one of'):
        module.render_sample(0, 'target', 0)
    with pytest.raises(ValueError, match=rf'{task}: size must be \(H, W\)'):
        generate(str(tmp_path), size=(8, 8))
    with pytest.raises(ValueError, match=f'{task}: n_source must be an int'):
        generate(str(tmp_path), n_source=-1)
    assert os.listdir(tmp_path) == []  # checked before anything is written


@pytest.mark.parametrize('task', sorted(TASKS))
def test_default_root_and_env(task, monkeypatch, tmp_path):
    module, _, _, version, _ = TASKS[task]
    monkeypatch.setenv('CLST_MMSEG_DATA_DIR', str(tmp_path))
    assert module.default_root(3) == osp.join(str(tmp_path),
                                              f'{task}-{version}-seed3')
    monkeypatch.delenv('CLST_MMSEG_DATA_DIR')
    assert module.default_root(0).endswith(
        osp.join('.cache', 'clst_mmseg', f'{task}-{version}-seed0'))


@pytest.mark.parametrize('task', sorted(TASKS))
def test_ensure_caches_and_replaces_stale(task, monkeypatch, tmp_path):
    module, _, ensure, version, marker_name = TASKS[task]
    monkeypatch.setattr(module, 'DEFAULT_COUNTS', dict(SMALL))
    root = str(tmp_path / 'cache')
    assert ensure(root) == root
    marker = osp.join(root, marker_name)
    meta = json.load(open(marker))
    assert meta['version'] == version and meta['seed'] == 0
    mtime = os.stat(marker).st_mtime_ns
    assert ensure(root) == root
    assert os.stat(marker).st_mtime_ns == mtime  # not regenerated
    with open(marker, 'w') as f:  # an older generator's cache
        json.dump(dict(meta, version='v0'), f)
    assert ensure(root) == root
    assert json.load(open(marker)) == meta
    assert os.listdir(tmp_path) == ['cache']


@pytest.mark.parametrize('task', sorted(TASKS))
def test_cli(task, monkeypatch, tmp_path, capsys):
    module, _, _, _, marker_name = TASKS[task]
    monkeypatch.setattr(module, 'DEFAULT_COUNTS', dict(SMALL))
    module.main(['--root', str(tmp_path / 'r'), '--seed', '2'])
    assert capsys.readouterr().out.strip() == str(tmp_path / 'r')
    assert json.load(open(tmp_path / 'r' / marker_name))['seed'] == 2


def test_write_task_layout_and_conditions_table(tmp_path):
    seen = []

    def render(domain, index):
        seen.append((domain, index))
        img = np.full((32, 32, 3), index, np.uint8)
        return img, np.zeros((32, 32), np.uint8), (domain, index)

    counts = dict(n_source=2, n_source_val=1, n_target_train=1,
                  n_target_val=2)
    root = write_task(str(tmp_path), 'demo', render, counts, 'town',
                      columns=('split', 'index'))
    assert seen == [('source', 0), ('source', 1), ('source_val', 0),
                    ('target_train', 0), ('target_val', 0),
                    ('target_val', 1)]
    files = sorted(osp.relpath(osp.join(d, f), root)
                   for d, _, fs in os.walk(root) for f in fs)
    assert files == sorted([
        'source/images/00000.png', 'source/images/00001.png',
        'source/labels/00000_labelTrainIds.png',
        'source/labels/00001_labelTrainIds.png',
        'source_val/images/00000.png',
        'source_val/labels/00000_labelTrainIds.png',
        'target/leftImg8bit/train/town/town_000000_leftImg8bit.png',
        'target/gtFine/train/town/town_000000_gtFine_labelTrainIds.png',
        'target/leftImg8bit/val/town/town_000000_leftImg8bit.png',
        'target/leftImg8bit/val/town/town_000001_leftImg8bit.png',
        'target/gtFine/val/town/town_000000_gtFine_labelTrainIds.png',
        'target/gtFine/val/town/town_000001_gtFine_labelTrainIds.png',
        'target/conditions_train.csv', 'target/conditions_val.csv'])
    assert open(osp.join(root, 'target', 'conditions_val.csv')).read() == (
        'image,split,index\ntown_000000,target_val,0\n'
        'town_000001,target_val,1\n')


def test_write_png_names_the_task_and_file(tmp_path):
    path = str(tmp_path / 'missing' / 'x.png')
    with pytest.raises(OSError, match=f'demo: could not write {path}'):
        write_png(path, np.zeros((4, 4), np.uint8), 'demo')
