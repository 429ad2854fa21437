"""The worked example of docs/adding_a_method.md: FDA (examples/fda/), a
method outside the package. Its Fourier transfer and entropy term against
their definitions, its config importing the module from its own folder, and
its suite beside shipped methods through tools/benchmark.py (so the example
and the guide cannot rot)."""
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from clst_mmseg.apis import load_config
from clst_mmseg.benchmark.store import ResultsStore
from conftest import ROOT

FDA_DIR = osp.join(ROOT, 'examples', 'fda')


@pytest.fixture(scope='module')
def fda():
    """The example module, imported as its config imports it."""
    load_config(osp.join(FDA_DIR, 'mini.py'))
    return sys.modules['fda']


def test_config_imports_the_module_from_its_own_folder(fda):
    assert fda.__file__ == osp.join(FDA_DIR, 'fda.py')
    cfg = load_config(osp.join(FDA_DIR, 'mini.py'))
    assert cfg.model.type == 'FDA'
    # the release's knobs, beta adapted to 64x64 crops
    assert (cfg.model.beta, cfg.model.entropy_weight, cfg.model.eta,
            cfg.model.entropy_after) == (0.05, 0.005, 2.0, 0)
    assert cfg.work_dir == './work_dirs/fda/mini'


def test_low_frequency_amplitude_comes_from_the_target(fda):
    torch.manual_seed(0)
    src = torch.rand(2, 3, 16, 20) * 255
    trg = torch.rand(2, 3, 16, 20) * 100 + 50
    # beta 0: the source unchanged (up to the FFT's rounding)
    torch.testing.assert_close(fda.fda_source_to_target(src, trg, 0.0), src,
                               atol=1e-3, rtol=0)
    out = fda.fda_source_to_target(src, trg, 0.1)  # b = floor(1.6) = 1
    # the zero frequency (each channel's mean) is the target's
    torch.testing.assert_close(out.mean((2, 3)), trg.mean((2, 3)),
                               atol=1e-3, rtol=0)
    out = fda.fda_source_to_target(src, trg, 0.2)  # b = floor(3.2) = 3
    amp_out, amp_src, amp_trg = (torch.fft.fft2(x).abs()
                                 for x in (out, src, trg))
    # frequencies -2..2 each way are the target's; -3 (the release's window
    # is -b..b-1) mixes with the source's +3 when the real part is taken
    rows, cols = [0, 1, 2, 14, 15], [0, 1, 2, 18, 19]
    window = (slice(None), slice(None), torch.tensor(rows)[:, None],
              torch.tensor(cols)[None])
    torch.testing.assert_close(amp_out[window], amp_trg[window], atol=0.05,
                               rtol=1e-4)
    # outside the window the source's spectrum stays
    torch.testing.assert_close(amp_out[..., 4:12, 4:16],
                               amp_src[..., 4:12, 4:16], atol=0.05,
                               rtol=1e-4)


def test_robust_entropy_is_the_charbonnier_of_the_normalised_entropy(fda):
    uniform = torch.zeros(1, 7, 4, 4)
    assert fda.robust_entropy(uniform, 2.0).item() == pytest.approx(1.0)
    confident = torch.zeros(1, 7, 4, 4)
    confident[:, 0] = 50.0
    assert fda.robust_entropy(confident, 2.0).item() < 1e-12
    logits = torch.tensor([2.0, 0.0, -1.0]).view(1, 3, 1, 1)
    p = logits.softmax(1).flatten()
    ent = float(-(p * p.log()).sum() / math.log(3))
    assert fda.robust_entropy(logits, 1.5).item() == pytest.approx(
        (ent**2 + 1e-8)**1.5, rel=1e-5)


def test_a_bad_knob_stops_with_one_line(fda):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = load_config(osp.join(FDA_DIR, 'mini.py'))
    with pytest.raises(ValueError, match=r'^FDA: beta must be in \[0, 0.5\], '
                       'got 0.7$'):
        MODELS.build(dict(cfg.model, beta=0.7))
    model = MODELS.build(dict(cfg.model, entropy_after=3))
    assert model.warmups() == {'entropy': 4}


@pytest.mark.slow
def test_example_suite_runs_fda_beside_shipped_methods(tmp_path,
                                                       mini_data_dir):
    """examples/fda/suite.py through tools/benchmark.py, a few iterations,
    one seed: no PYTHONPATH names examples/fda; FDA gets its records and
    its leaderboard row beside source-only (the suite's ADVENT and oracle
    rows are skipped: shipped methods, trained by their own tests)."""
    env = dict(os.environ, CLST_MMSEG_DATA_DIR=mini_data_dir,
               OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    short = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4',
             'param_scheduler.0.end=4', 'trajectory_points=0',
             'train_dataloader.batch_size=2',
             '+val_dataloader.dataset.indices=8',
             '+test_dataloader.dataset.indices=8']
    out = subprocess.run(
        [sys.executable, 'tools/benchmark.py', 'examples/fda/suite.py',
         '--num-seeds', '1', '--jobs', '1', '--skip', 'oracle', 'advent',
         '--results-dir', str(tmp_path / 'results'), '--work-dir',
         str(tmp_path / 'work'), '--cfg-options', *short],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    records = {r['method']: r for r in
               ResultsStore(str(tmp_path / 'results')).records('mini')}
    assert sorted(records) == ['fda', 'source_only']
    for rec in records.values():
        assert rec['status'] == 'finished', rec['reason']
        assert rec['iterations'] == 4
    rec = records['fda']
    assert rec['config'] == 'examples/fda/mini.py'
    assert rec['resolved_config']['model']['type'] == 'FDA'
    table = (tmp_path / 'results' / 'mini' / 'fda.md').read_text()
    assert f"| FDA (beta 0.05) | 1 | {rec['metrics']['mIoU']:.1f} |" in table
    assert '| *Source only* | 1 |' in table
