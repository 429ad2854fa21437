import os
import os.path as osp

import pytest

import clst_mmseg

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The tests build clst_mmseg's datasets, models and hooks from mmseg's
# registries (`import clst_mmseg` alone is light).
clst_mmseg.register_all_modules()


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: end-to-end runs of the tools (a few seconds to a '
        'minute each); deselect with -m "not slow"')


@pytest.fixture(scope='session')
def mini_data_dir(tmp_path_factory):
    """A session-wide cache folder for the generated mini task, so the
    tests never touch ~/.cache and generate it once."""
    path = str(tmp_path_factory.mktemp('mini_cache'))
    old = os.environ.get('CLST_MMSEG_DATA_DIR')
    os.environ['CLST_MMSEG_DATA_DIR'] = path
    from clst_mmseg.datasets.mini import ensure_mini
    ensure_mini()
    yield path
    if old is None:
        os.environ.pop('CLST_MMSEG_DATA_DIR', None)
    else:
        os.environ['CLST_MMSEG_DATA_DIR'] = old
