"""The code that trained a run: the SHA-256 of every project source file
the training process imported, and one hash over them all.

Which files count (:func:`imported_files`):

- every imported module inside the ``clst_mmseg`` package, except the
  benchmark layer (``clst_mmseg/benchmark/``: it plans runs and builds
  tables, and the training never imports it), and the data files
  (:data:`DATA_SUFFIXES`: label maps, class subsets) in the folders of those
  modules;
- every module the config's ``custom_imports`` names that lives outside the
  package (a method of one's own), and every imported module in its folder
  (its package's folder, or the folder of a single-file module): the
  helpers such a module imports from beside it;
- not: the entry script (``__main__``: ``tools/train.py`` parses arguments
  and calls ``clst_mmseg.apis``, where what it does lives), nor anything of
  the Python installation (the standard library, ``site-packages``:
  torch, mmseg, mmengine and mmcv are identified by the versions in the
  record).

A file is named relative to the folder that holds the package (the
repository root in a checkout), ``~/...`` under the home folder, else by
its absolute path. A file imported later that did not exist before needs an
import statement in a file that did, so comparing the recorded files with
the current ones (:func:`changed_files`) finds every change of the code a
run imported.

Light (no torch, no mmseg): the training writes the fingerprint
(``CodeFingerprintHook``) and the benchmark layer reads and compares it.
"""
import hashlib
import json
import os
import os.path as osp
import site
import sys
import sysconfig
import tempfile
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .run_files import CODE_FINGERPRINT

#: The ``clst_mmseg`` package that is imported.
PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
#: Recorded paths are relative to the folder holding the package.
ROOT = osp.dirname(PACKAGE_DIR)
#: Folders of the package that hold no training code.
NOT_TRAINING = (osp.join(PACKAGE_DIR, 'benchmark'), )
#: Data files in the folders of imported package modules that count too.
DATA_SUFFIXES = ('.csv', '.json', '.yaml', '.yml')


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _installation_dirs() -> List[str]:
    """The folders of the Python installation (standard library,
    ``site-packages``)."""
    dirs = set()
    for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(osp.abspath(path))
    try:
        dirs.update(osp.abspath(p) for p in site.getsitepackages())
    except AttributeError:  # some virtualenvs' site module lacks it
        pass
    dirs.add(osp.abspath(site.getusersitepackages()))
    return sorted(dirs)


def _installed(path: str, installation: Iterable[str]) -> bool:
    parts = path.split(os.sep)
    return 'site-packages' in parts or 'dist-packages' in parts or any(
        _inside(path, d) for d in installation)


def _module_file(module: Any) -> Optional[str]:
    path = getattr(module, '__file__', None)
    if not isinstance(path, str) or not osp.isfile(path):
        return None  # built-in, namespace package, frozen, zip
    return osp.abspath(path)


def _custom_import_names(custom_imports: Any) -> List[str]:
    """Module names of a config's ``custom_imports``
    (``dict(imports=[...])``, a list or one name)."""
    if not custom_imports:
        return []
    names = custom_imports.get('imports') if isinstance(
        custom_imports, Mapping) else custom_imports
    if isinstance(names, str):
        return [names]
    return [n for n in (names or []) if isinstance(n, str)]


def imported_files(custom_imports: Any = None,
                   modules: Optional[Mapping[str, Any]] = None) -> List[str]:
    """The project source files a process has imported (see the module
    docstring for the rule), sorted.

    Args:
        custom_imports: The config's ``custom_imports``
            (``dict(imports=[...])``, a list of names or one name).
        modules (Mapping, optional): Module name -> module (default:
            ``sys.modules``).

    Returns:
        list[str]: Absolute paths.
    """
    modules = dict(sys.modules if modules is None else modules)
    installation = _installation_dirs()
    roots = []
    for name in _custom_import_names(custom_imports):
        path = _module_file(modules.get(name))
        if path and not _inside(path, PACKAGE_DIR) and not _installed(
                path, installation):
            roots.append(osp.dirname(path))
    package, own = set(), set()
    for name, module in modules.items():
        path = _module_file(module)
        if name == '__main__' or path is None or any(
                _inside(path, d) for d in NOT_TRAINING):
            continue
        if _inside(path, PACKAGE_DIR):
            package.add(path)
        elif any(_inside(path, r) for r in roots) and not _installed(
                path, installation):
            own.add(path)
    data = set()
    for folder in {osp.dirname(p) for p in package}:
        for name in os.listdir(folder):
            path = osp.join(folder, name)
            if name.endswith(DATA_SUFFIXES) and osp.isfile(path):
                data.add(path)
    return sorted(package | own | data)


def display_path(path: str) -> str:
    """How a fingerprint names a file: relative to :data:`ROOT` when inside
    it, ``~/...`` under the home folder, else absolute (``/`` separated)."""
    full = osp.abspath(path)
    rel = osp.relpath(full, ROOT)
    if not rel.startswith('..'):
        return rel.replace(os.sep, '/')
    home = osp.expanduser('~')
    if home not in ('', '/') and full.startswith(home + os.sep):
        return '~' + full[len(home):]
    return full


def resolve_path(name: str) -> str:
    """The file a fingerprint's name refers to (:func:`display_path`
    reversed)."""
    path = osp.expanduser(name)
    return path if osp.isabs(path) else osp.join(ROOT, path)


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def combined_sha256(files: Mapping[str, str]) -> str:
    """One hash over ``name -> SHA-256`` pairs, independent of their
    order: SHA-256 of ``name NUL hash LF`` lines sorted by name."""
    text = ''.join(f'{name}\0{files[name]}\n' for name in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()


def collect(custom_imports: Any = None,
            known: Optional[Mapping[str, str]] = None,
            modules: Optional[Mapping[str, Any]] = None) -> Dict:
    """The fingerprint of the code this process has imported.

    Args:
        custom_imports: The config's ``custom_imports``.
        known (Mapping, optional): Files hashed earlier in this process
            (``name -> SHA-256``): they keep that hash, the content that
            was imported, even if the file was edited since.
        modules (Mapping, optional): As for :func:`imported_files`.

    Returns:
        dict: ``sha256`` (:func:`combined_sha256`) and ``files`` (name ->
        SHA-256, sorted by name).
    """
    known = known or {}
    files = {}
    for path in imported_files(custom_imports, modules):
        name = display_path(path)
        files[name] = known.get(name) or file_sha256(path)
    files = dict(sorted(files.items()))
    return dict(sha256=combined_sha256(files), files=files)


def write_fingerprint(work_dir: str, code: Dict) -> str:
    """Write ``code`` to ``<work_dir>/code_fingerprint.json`` atomically
    (temp file + rename); returns the path."""
    path = osp.join(work_dir, CODE_FINGERPRINT)
    os.makedirs(work_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=work_dir, prefix='.tmp-', suffix='.json')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(code, f, indent=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def fingerprint_problem(code: Any) -> Optional[str]:
    """Why ``code`` is not a fingerprint (None: it is one): a dict with
    ``files`` (name -> 64 hex digits) and ``sha256``, their combined
    hash."""
    if not isinstance(code, dict) or not isinstance(code.get('files'), dict):
        return 'expected dict(sha256=..., files={name: sha256})'
    for name, digest in code['files'].items():
        if not (isinstance(digest, str) and len(digest) == 64
                and all(c in '0123456789abcdef' for c in digest)):
            return f'files[{name!r}]: not a SHA-256 ({digest!r})'
    if code.get('sha256') != combined_sha256(code['files']):
        return 'sha256 is not the combined hash of its files'
    return None


def read_fingerprint(work_dir: str) -> Optional[Dict]:
    """The fingerprint the training wrote into ``work_dir`` (None: none,
    or not a valid one)."""
    try:
        with open(osp.join(work_dir, CODE_FINGERPRINT)) as f:
            code = json.load(f)
    except (OSError, ValueError):
        return None
    return None if fingerprint_problem(code) else code


#: ``(path, size, mtime_ns) -> SHA-256`` of files hashed by
#: :func:`current_sha256` (a dry run compares many records with the same
#: files).
_CURRENT: Dict[Tuple[str, int, int], str] = {}


def current_sha256(name: str) -> Optional[str]:
    """SHA-256 of the file a fingerprint names, as it is now (None: gone
    or unreadable)."""
    path = resolve_path(name)
    try:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in _CURRENT:
            _CURRENT[key] = file_sha256(path)
    except OSError:
        return None
    return _CURRENT[key]


def changed_files(code: Dict) -> List[str]:
    """The files of a fingerprint whose content differs now, or that are
    gone, sorted.

    Args:
        code (dict): A fingerprint (:func:`collect`).

    Returns:
        list[str]: Their names as the fingerprint gives them.
    """
    return sorted(name for name, digest in code['files'].items()
                  if current_sha256(name) != digest)
