import os
import os.path as osp
import sys

import pytest

import clst_mmseg

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# tests/support: the hooks the tests' configs import, and forked_tool
sys.path.insert(0, osp.join(ROOT, 'tests', 'support'))
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


def free_port() -> int:
    """A TCP port free now, for a torchrun rendezvous: fixed ports collide
    with another test run (another checkout, pytest-xdist) on the machine."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


#: What a user's run has switched on, for the DDP tests: the shipped
#: configs' custom hooks (the trajectory hook sets the validation interval,
#: validates and measures its label-free criteria on rank 0 at each point),
#: the validation itself and the pseudo-label diagnostics that the benchmark
#: suites add (configs/benchmarks/_base_/pseudo_label_diagnostics.py).
USER_HOOKS = [
    'trajectory_points=2',
    '+default_hooks.pseudo_label_diagnostics.type=PseudoLabelDiagnosticsHook'
]


def as_a_user_runs_it(options):
    """``--cfg-options`` without the switches that turn those hooks off
    (``trajectory_points=0``, a validation interval past the run), plus
    :data:`USER_HOOKS`."""
    off = ('trajectory_points=', 'train_cfg.val_interval=')
    return [o for o in options if not o.startswith(off)] + USER_HOOKS


def check_user_hooks_ran(work_dir, steps, pseudo_labels):
    """The hooks of :data:`USER_HOOKS` did their work in ``work_dir``:
    validations and trajectory points (with their criteria) at ``steps``,
    and pseudo-label scores where the method has pseudo-labels."""
    import json

    from clst_mmseg.benchmark import workdir
    with open(osp.join(work_dir, 'trajectory.json')) as f:
        points = json.load(f)
    assert [p['step'] for p in points] == list(steps)
    for p in points:
        assert {'entropy', 'im', 'snd', 'source_mIoU'} <= set(p['criteria'])
        assert 0 <= p['metrics']['mIoU'] <= 100
    entries = workdir.read_scalars(str(work_dir))
    assert [c['step'] for c in workdir.val_curve(entries)] == list(steps)
    scored = any('pl_diag.coverage' in e for e in entries)
    assert scored == pseudo_labels
