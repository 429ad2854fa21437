"""`import clst_mmseg` and the benchmark layer stay light (no torch, no
mmseg), the tools parse their arguments before the heavy imports, and
registration still happens whenever a config is built."""
import os
import subprocess
import sys
import textwrap

from conftest import ROOT

# (pandas is allowed: the suite loader checks the reference-number table)
HEAVY = ('torch', 'mmseg', 'mmcv', 'matplotlib', 'seaborn', 'scipy')


def _python(code, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, *args, '-c',
                           textwrap.dedent(code)], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=300)


def _imported_roots(importtime_stderr):
    """Top-level packages in ``python -X importtime`` output."""
    return {
        line.split('|')[-1].strip().split('.')[0]
        for line in importtime_stderr.splitlines()
        if line.startswith('import time:') and '|' in line
    }


def test_benchmark_layer_imports_no_torch_mmseg_pandas():
    out = _python(f"""
        import sys
        import clst_mmseg.benchmark.cli
        import clst_mmseg.benchmark.run_one
        print(sorted({{m.split('.')[0] for m in sys.modules}}
                     & set({HEAVY!r})))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]'


def test_tools_help_parses_before_heavy_imports():
    for tool in ('tools/train.py', 'tools/test.py', 'tools/benchmark.py'):
        out = subprocess.run(
            [sys.executable, '-X', 'importtime', tool, '--help'], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT), text=True,
            capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert 'usage:' in out.stdout
        assert not _imported_roots(out.stderr) & set(HEAVY), tool


def test_registration_when_a_config_is_built():
    # light first, then Config.fromfile: custom_imports registers
    out = _python("""
        import sys
        import clst_mmseg
        from mmengine.config import Config
        assert 'torch' not in sys.modules
        Config.fromfile('configs/clst/mini.py')
        from mmseg.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
        print(MODELS.get('CLST').__name__, DATASETS.get('UDADataset')
              .__name__, HOOKS.get('ValMetricsJSONHook').__name__,
              TRANSFORMS.get('CachedLoadImageFromFile').__name__)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [
        'CLST', 'UDADataset', 'ValMetricsJSONHook', 'CachedLoadImageFromFile'
    ]


def test_import_after_torch_registers():
    # what mmseg's own tools do with custom_imports=dict(imports=['clst_mmseg'])
    # and registration (what a training imports) never reaches the benchmark
    # layer above it
    out = _python("""
        import sys
        from mmseg.registry import MODELS
        import clst_mmseg
        print(MODELS.get('UDASegmentor').__name__)
        print(sorted(m for m in sys.modules
                     if m.startswith('clst_mmseg.benchmark')))
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split('\n')[:2] == ['UDASegmentor', '[]']
