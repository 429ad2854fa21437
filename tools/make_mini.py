"""Generate the built-in mini task's data by hand (the tools also generate it
on first use). Same as ``python -m clst_mmseg.datasets.mini``, without
runpy's warning about a module that the package imported already.

Example::

    python tools/make_mini.py                 # ~/.cache/clst_mmseg/mini-...
    python tools/make_mini.py --root data/mini
"""
from clst_mmseg.datasets.mini import main

if __name__ == '__main__':
    main()
