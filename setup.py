"""Install clst_mmseg: ``pip install -e .`` (add ``[test]`` for the suite).

mmcv: mmsegmentation 1.2.x needs ``mmcv>=2.0.0rc4,<2.2.0`` but does not
declare it. When full mmcv (with compiled ops) is already installed we keep
it; otherwise we depend on ``mmcv-lite``, which installs in seconds and is
enough here (``clst_mmseg.compat`` serves mmcv's pure-PyTorch ops and names
the ones that need full mmcv). Installing mmcv-lite over full mmcv would
overwrite it, hence the check.
"""
from importlib import metadata

from setuptools import find_packages, setup


def mmcv_requirement() -> str:
    try:
        metadata.version('mmcv')
        return 'mmcv>=2.0.0rc4,<2.2.0'
    except metadata.PackageNotFoundError:
        return 'mmcv-lite>=2.0.0rc4,<2.2.0'


setup(
    name='clst_mmseg',
    version='0.1.0',
    description='CLST and UDA baselines for semantic segmentation on '
    'mmsegmentation 1.x: a reproducibility benchmark harness',
    packages=find_packages(include=['clst_mmseg', 'clst_mmseg.*']),
    package_data={'clst_mmseg': ['datasets/*.csv', 'benchmark/*.csv',
                               'benchmark/*.json']},
    python_requires='>=3.10,<3.13',
    install_requires=[
        'torch>=2.6,<2.15',
        'torchvision>=0.21,<0.30',
        'mmengine>=0.10.7,<0.11',
        'mmsegmentation>=1.2.2,<1.3',
        mmcv_requirement(),
        # mmengine 0.10.7 imports pkg_resources, gone from setuptools >= 82
        'setuptools<82',
        'numpy>=1.24,<3',
        'ftfy',  # mmseg imports these at import time
        'regex',
        'cityscapesscripts>=2.2',
        'pandas>=2.0',
        'seaborn>=0.13',
        'scipy>=1.10',
        'Pillow>=9',
        'submitit>=1.5',  # Slurm executor of tools/benchmark.py
    ],
    extras_require={'test': ['pytest>=7']},
)
