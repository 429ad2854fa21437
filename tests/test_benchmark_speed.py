"""tools/benchmark_speed.py: how rounds are combined and what is reported
(no timing is asserted: the script measures, it does not test)."""
import argparse
import importlib.util
import os.path as osp

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location(
    'benchmark_speed', osp.join(ROOT, 'tools', 'benchmark_speed.py'))
bs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bs)


def _row(method, sec, peak, **extra):
    return dict(method=method, model_type='M', device='cpu', batch_size=8,
                sec_per_iter=sec, peak_bytes=peak, steady_state_keys=[],
                peak_kind='CPU RSS growth during training', **extra)


def test_combine_takes_medians_over_rounds():
    row = bs.combine('clst', [_row('clst', 0.3, 30), _row('clst', 0.1, 10),
                              _row('clst', 0.2, 50)])
    assert row['sec_per_iter'] == pytest.approx(0.2)
    assert row['sec_per_iter_rounds'] == [0.3, 0.1, 0.2]
    assert row['peak_bytes'] == 30
    bad = bs.combine('clst', [_row('clst', 0.1, 1),
                              dict(method='clst', error='boom')])
    assert bad == dict(method='clst', error='boom')


def test_steady_state_zeroes_every_warm_up_key():
    cfg = dict(warmup_iters=500, warmup_ratio=0.25, st_rampup_iters=250,
               cl_warmup_iters=0, st_weight=1.0)
    assert sorted(bs._steady_state(cfg)) == [
        'st_rampup_iters', 'warmup_iters', 'warmup_ratio']
    assert cfg == dict(warmup_iters=0, warmup_ratio=0, st_rampup_iters=0,
                       cl_warmup_iters=0, st_weight=1.0)


def test_report_gives_ratios_and_the_ensemble_targets():
    rows = [_row('source_only', 0.10, 100 * 2**20),
            _row('self_training', 0.20, 150 * 2**20),
            _row('clst', 0.22, 160 * 2**20, ensemble_bytes=256000),
            dict(method='dacs', error='Traceback ... boom')]
    ens = bs.ensemble_figures()
    assert ens == dict(bytes_per_pixel=2, cityscapes_pixels=2975 * 64 * 128,
                       cityscapes_bytes=2975 * 64 * 128 * 2)
    args = argparse.Namespace(task='mini', iters=20, warmup=5, repeats=3)
    text = bs.report(rows, ens, args).splitlines()
    clst = next(ln for ln in text if ln.startswith('clst '))
    assert clst.split()[2:7] == ['0.220', '0.220-0.220', '2.20', '160.0',
                                 '1.60']
    assert 'dacs              FAILED: Traceback ... boom' in text
    assert ('CLST / pure self-training time per iteration: 1.10 '
            '(target <= 1.15)') in text
    assert any('48742400 bytes = 48.7 MB' in ln for ln in text)


def test_report_columns_fit_long_method_names():
    rows = [_row('source_only', 0.10, 100 * 2**20),
            _row('self_training_cb_online', 0.20, 150 * 2**20)]
    args = argparse.Namespace(task='mini', iters=20, warmup=5, repeats=3)
    text = bs.report(rows, bs.ensemble_figures(), args).splitlines()
    row = next(ln for ln in text if ln.startswith('self_training_cb_online'))
    assert row.split()[:3] == ['self_training_cb_online', 'M', '0.200']
    assert row.index('0.200') == next(
        ln for ln in text if ln.startswith('source_only')).index('0.100')
