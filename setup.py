"""Install clst_mmseg: ``pip install -e .`` (add ``[test]`` for the suite).

mmcv: mmsegmentation 1.2.x needs ``mmcv>=2.0.0rc4,<2.2.0`` but does not
declare it. When full mmcv (with compiled ops) is already installed we keep
it; otherwise we depend on ``mmcv-lite``, which installs in seconds and is
enough here (``clst_mmseg.compat`` serves mmcv's pure-PyTorch ops and names
the ones that need full mmcv). Installing mmcv-lite over full mmcv would
overwrite it, hence the check.

``clst_mmseg_mmcv_lite.pth`` goes into site-packages (regular and editable
installs), so that ``from mmseg.apis import init_model`` works on mmcv-lite
before ``clst_mmseg`` is imported (see ``clst_mmseg_mmcv_lite.py``).

Extras: ``test`` (pytest), ``tensorboard`` and ``wandb`` (experiment
loggers for mmengine's vis backends, see README).
"""
import os.path as osp
from importlib import metadata

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH = 'clst_mmseg_mmcv_lite.pth'
PTH_LINE = 'import clst_mmseg_mmcv_lite; clst_mmseg_mmcv_lite.install()\n'


def mmcv_requirement() -> str:
    try:
        metadata.version('mmcv')
        return 'mmcv>=2.0.0rc4,<2.2.0'
    except metadata.PackageNotFoundError:
        return 'mmcv-lite>=2.0.0rc4,<2.2.0'


class BuildWithPth(build_py):
    """``build_py`` that also puts :data:`PTH` at the top of the wheel."""

    def run(self):
        super().run()
        with open(osp.join(self.build_lib, PTH), 'w') as f:
            f.write(PTH_LINE)


def _cmdclass():
    commands = dict(build_py=BuildWithPth)
    try:  # PEP 660 editable installs (setuptools >= 64)
        from setuptools.command.editable_wheel import editable_wheel
    except ImportError:
        return commands

    class EditableWithPth(editable_wheel):
        """Editable wheels hold links to the sources, not ``build_lib``:
        add :data:`PTH` to the wheel itself."""

        def _create_wheel_file(self, bdist_wheel):
            from wheel.wheelfile import WheelFile
            path = super()._create_wheel_file(bdist_wheel)
            with WheelFile(path, 'a') as wheel:
                wheel.writestr(PTH, PTH_LINE)
            return path

    commands['editable_wheel'] = EditableWithPth
    return commands


setup(
    name='clst_mmseg',
    version='0.1.0',
    description='CLST and UDA baselines for semantic segmentation on '
    'mmsegmentation 1.x: a reproducibility benchmark harness',
    packages=find_packages(include=['clst_mmseg', 'clst_mmseg.*']),
    py_modules=['clst_mmseg_mmcv_lite'],
    cmdclass=_cmdclass(),
    package_data={'clst_mmseg': ['datasets/*.csv', 'benchmark/*.csv',
                               'benchmark/*.json', 'datasets/*.yaml']},
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
    extras_require={
        # pytest < 9: pytest-xdist 3.8's --dist loadgroup renames a grouped
        # test's nodeid, which pytest 9 no longer reads (the groups split)
        'test': ['pytest>=7,<9', 'pytest-xdist>=3'],
        'tensorboard': ['tensorboard>=2.10'],
        'wandb': ['wandb>=0.15'],
    },
)
