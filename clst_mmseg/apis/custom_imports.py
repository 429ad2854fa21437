"""Importing a config's ``custom_imports`` from beside the config file.

mmengine imports the modules a config names in ``custom_imports`` from
``sys.path`` only: a method kept next to its own config needs a
``PYTHONPATH`` step, and a missing module ends in a traceback that lists
``sys.path``. Here a module that ``sys.path`` does not have is looked for in
the folder of the config file, then in the folders of the base configs it
inherits (``_base_``, nearest first); the first folder that holds it
(``<name>.py`` or ``<name>/__init__.py``) is appended to ``sys.path``
before it is imported. A module found nowhere stops with one line naming it
and every folder that was searched.

Light: no torch, no mmseg (the benchmark layer checks a suite's configs with
:func:`missing_custom_module` before anything runs).
"""
import ast
import importlib
import importlib.util
import os.path as osp
import sys
import warnings
from typing import Dict, List, Optional


class MissingCustomModule(ValueError):
    """A module of ``custom_imports`` that is neither on ``sys.path`` nor
    beside the config (or one of its bases)."""


def _base_files(path: str) -> List[str]:
    """The ``_base_`` files a Python config names, as absolute paths
    (external ``package::path`` bases are left out)."""
    if not path.endswith('.py'):
        return []
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError):
        return []  # mmengine reports an unreadable config itself
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return []
            bases = [bases] if isinstance(bases, str) else list(bases)
            folder = osp.dirname(path)
            return [
                osp.normpath(osp.join(folder, osp.expanduser(b)))
                for b in bases if isinstance(b, str) and '::' not in b
            ]
    return []


def config_folders(path: str) -> List[str]:
    """The folders where a config's own modules may live: the config
    file's folder, then the folders of its base configs, depth-first in
    ``_base_`` order, each once.

    Args:
        path (str): Config file.

    Returns:
        list[str]: Absolute folders.
    """
    folders: List[str] = []
    seen = set()

    def visit(file: str) -> None:
        file = osp.abspath(file)
        if file in seen:
            return
        seen.add(file)
        folder = osp.dirname(file)
        if folder not in folders:
            folders.append(folder)
        for base in _base_files(file):
            visit(base)

    visit(path)
    return folders


def _holds(folder: str, top: str) -> bool:
    return osp.isfile(osp.join(folder, f'{top}.py')) or osp.isfile(
        osp.join(folder, top, '__init__.py'))


def _module_names(custom_imports: Optional[Dict]) -> List[str]:
    if not custom_imports:
        return []
    names = custom_imports.get('imports') or []
    return [names] if isinstance(names, str) else list(names)


def _on_sys_path(top: str) -> bool:
    # find_spec of a top-level name searches sys.path without importing
    return top in sys.modules or importlib.util.find_spec(top) is not None


def module_folder(name: str, config: str) -> Optional[str]:
    """Where module ``name`` of a config's ``custom_imports`` would be
    imported from: '' when ``sys.path`` has it, the folder beside the
    config (or one of its bases) that holds it, or None.

    Args:
        name (str): Dotted module name.
        config (str): Config file.

    Returns:
        str | None: The folder ('' for ``sys.path``), or None.
    """
    top = name.split('.')[0]
    if _on_sys_path(top):
        return ''
    return next((f for f in config_folders(config) if _holds(f, top)), None)


def _not_found(name: str, config: str) -> str:
    top = name.split('.')[0]
    return (f'custom_imports: module {name!r} of {config} is neither on '
            f'sys.path nor beside the config: no {top}.py or '
            f'{top}/__init__.py in ' + ', '.join(config_folders(config)))


def missing_custom_module(custom_imports: Optional[Dict],
                          config: str) -> Optional[str]:
    """Why a config's ``custom_imports`` would not import, or None; nothing
    is imported.

    Args:
        custom_imports (dict, optional): The config's ``custom_imports``.
        config (str): Config file.

    Returns:
        str | None: One line naming the module and where it was looked
        for.
    """
    if (custom_imports or {}).get('allow_failed_imports'):
        return None
    for name in _module_names(custom_imports):
        if module_folder(name, config) is None:
            return _not_found(name, config)
    return None


def import_custom_modules(custom_imports: Optional[Dict],
                          config: str) -> None:
    """Import the modules of ``custom_imports`` (mmengine's
    ``dict(imports=[...], allow_failed_imports=False)``), each from
    ``sys.path`` or from beside the config (see the module docstring).

    Args:
        custom_imports (dict, optional): The config's ``custom_imports``.
        config (str): The config file (its folder and its bases' are
            searched).

    Raises:
        MissingCustomModule: A module found nowhere (unless
            ``allow_failed_imports``), one line.
    """
    allow_failed = bool((custom_imports or {}).get('allow_failed_imports'))
    for name in _module_names(custom_imports):
        folder = module_folder(name, config)
        if folder is None:
            if allow_failed:
                warnings.warn(f'{_not_found(name, config)}; ignored '
                              '(allow_failed_imports)')
                continue
            raise MissingCustomModule(_not_found(name, config))
        if folder and folder not in sys.path:
            sys.path.append(folder)
        importlib.import_module(name)

