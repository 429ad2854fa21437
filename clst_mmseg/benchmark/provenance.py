"""Where a run ran: git revision, package versions, hardware. Collected on
the machine that executes the run (a Slurm node, a local GPU), without
importing torch.

The git state is that of the tree holding the imported ``clst_mmseg``
package (:data:`PACKAGE_ROOT`): the code that actually runs, whatever the
folder the command was started in (an editable install of another checkout
runs that checkout's code; :func:`foreign_tree_warning` says so).
"""
import hashlib
import os
import os.path as osp
import platform
import socket
import subprocess
import tempfile
from importlib import metadata
from typing import Dict, List, Optional, Tuple

from clst_mmseg.code_fingerprint import file_sha256 as _sha256_file

#: The folder that holds the imported ``clst_mmseg`` package (its
#: repository root in a checkout).
PACKAGE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Distribution names reported in every record.
PACKAGES = ('torch', 'torchvision', 'mmsegmentation', 'mmengine', 'mmcv',
            'mmcv-lite', 'numpy', 'clst_mmseg')


def _run(cmd: List[str], cwd: Optional[str] = None,
         ok: Tuple[int, ...] = (0, )) -> Optional[str]:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode in ok else None


#: Untracked files larger than this go into the diff by name, size and
#: SHA-256 only (data someone left in the tree, not code).
MAX_UNTRACKED_BYTES = 1 << 20


def working_tree_diff(top: str, changed: List[Tuple[str, str]],
                      pathspec: List[str]) -> str:
    """The uncommitted state as one patch: ``git diff HEAD`` of the tracked
    files, then every untracked file as a new-file patch (large ones by
    name, size and SHA-256 only).

    Args:
        top (str): The repository root.
        changed (list[tuple]): ``(porcelain status, path)`` pairs.
        pathspec (list[str]): Limits the tracked diff (e.g. an exclude).

    Returns:
        str: The patch (empty for a clean tree).
    """
    parts = [_run(['git', 'diff', 'HEAD', '--binary', '--', *pathspec],
                  cwd=top) or '']
    for status, path in changed:
        if status != '??':
            continue
        full = osp.join(top, path)
        size = osp.getsize(full) if osp.isfile(full) else 0
        if size > MAX_UNTRACKED_BYTES:
            parts.append(f'# untracked {path}: {size} bytes, sha256 '
                         f'{_sha256_file(full)} (not included)\n')
            continue
        parts.append(_run(['git', 'diff', '--no-index', '--binary', '--',
                           os.devnull, path], cwd=top, ok=(0, 1)) or '')
    return ''.join(parts)


def git_info(repo: str, exclude: Optional[str] = None,
             diff_dir: Optional[str] = None) -> Dict:
    """Revision of ``repo`` and whether the tree differs from it.

    Modified tracked files and untracked files that git does not ignore
    (a new config counts) make a tree dirty. The uncommitted state is kept
    as a patch (:func:`working_tree_diff`): its SHA-256 goes into the
    result, the patch itself into ``diff_dir/<first 16 hex>.diff`` (shared
    by every run made from the same state).

    Args:
        repo (str): A folder inside the repository.
        exclude (str, optional): A folder left out of the dirty check (the
            results folder, whose records the benchmark itself rewrites).
        diff_dir (str, optional): Where a dirty tree's patch is written.

    Returns:
        dict: ``revision`` (None outside git), ``dirty`` (bool | None),
        ``dirty_paths`` (the first 20 modified or untracked files, relative
        to the repository root), and for a dirty tree ``diff_sha256`` and
        ``diff_file`` (the patch's file name in ``diff_dir``, or None).
    """
    rev = _run(['git', 'rev-parse', 'HEAD'], cwd=repo)
    if rev is None:
        return dict(revision=None, dirty=None, dirty_paths=[])
    top = (_run(['git', 'rev-parse', '--show-toplevel'], cwd=repo)
           or '').strip() or repo
    pathspec = ['.']
    if exclude:
        rel = osp.relpath(osp.abspath(exclude), top)
        if not rel.startswith('..'):
            pathspec.append(f':(exclude){rel}')
    status = _run(['git', 'status', '--porcelain', '--untracked-files=all',
                   '--', *pathspec], cwd=top)
    # which files differ (paths relative to the repository root), so a
    # reader can tell a README edit from a changed model
    changed = [(ln[:2], ln[3:]) for ln in (status or '').splitlines()
               if ln.strip()]
    info = dict(revision=rev.strip(),
                dirty=None if status is None else bool(changed),
                dirty_paths=[p for _, p in changed][:20])
    if changed:
        patch = working_tree_diff(top, changed, pathspec)
        digest = hashlib.sha256(patch.encode()).hexdigest()
        info.update(diff_sha256=digest, diff_file=None)
        if diff_dir:
            name = f'{digest[:16]}.diff'
            os.makedirs(diff_dir, exist_ok=True)
            if not osp.exists(osp.join(diff_dir, name)):
                # a temporary file of its own: parallel runs of one
                # benchmark process (threads, one pid) write the same patch
                fd, tmp = tempfile.mkstemp(prefix=f'.{name}.', dir=diff_dir)
                with os.fdopen(fd, 'w') as f:
                    f.write(patch)
                os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it
                os.replace(tmp, osp.join(diff_dir, name))
            info['diff_file'] = name
    return info


def _toplevel(folder: str) -> Optional[str]:
    top = _run(['git', 'rev-parse', '--show-toplevel'], cwd=folder)
    return osp.realpath(top.strip()) if top and top.strip() else None


def foreign_tree_warning(cwd: Optional[str] = None) -> Optional[str]:
    """One line when the command was started inside a git working tree
    that does not hold the ``clst_mmseg`` that runs (e.g. an editable
    install of another checkout): the records describe the package's tree,
    not that one.

    Args:
        cwd (str, optional): Where the command was started (default: the
            current folder).

    Returns:
        str | None: The warning, or None.
    """
    here = _toplevel(cwd or os.getcwd())
    if here is None:
        return None
    package = _toplevel(PACKAGE_ROOT)
    if package == here:
        return None
    where = f'git tree {package}' if package else 'not in a git tree'
    return (f'warning: the clst_mmseg that runs is {PACKAGE_ROOT}/clst_mmseg '
            f'({where}), not the working tree this command started in '
            f'({here}); records describe the code that runs')


def config_files(path: str, repo: str) -> List[Dict[str, Optional[str]]]:
    """The files a config was built from -- the file and its ``_base_``
    chain, depth first, each once -- with their SHA-256, so that a run
    whose config files lie outside the repository (a user's own
    ``my_configs/``, which git does not see) still records exactly what it
    trained. Bases are found as mmengine finds them (relative to the file
    that names them); a base in another package (``mmseg::...``) is
    recorded by name, without a hash.

    Args:
        path (str): The config file.
        repo (str): The repository root (paths inside it are recorded
            relative to it, see :func:`repo_relative`).

    Returns:
        list[dict]: ``path`` and ``sha256`` per file.
    """
    from mmengine.config import Config
    out: List[Dict[str, Optional[str]]] = []
    seen = set()

    def visit(filename: str) -> None:
        filename = osp.abspath(filename)
        if filename in seen:
            return
        seen.add(filename)
        out.append(dict(path=repo_relative(filename, repo),
                        sha256=_sha256_file(filename)))
        # mmengine's own reading of a config's _base_ (its paths are
        # relative to the file that names them)
        for base in Config._get_base_files(filename):
            if '::' in base:
                out.append(dict(path=base, sha256=None))
            else:
                visit(Config._get_cfg_path(base, filename)[0])

    visit(path)
    return out


def repo_relative(path: str, repo: str) -> str:
    """A path as a record stores it: relative to the repository when inside
    it, ``~/...`` under the home folder, else as given (a data folder)."""
    full = osp.abspath(path)
    rel = osp.relpath(full, osp.abspath(repo))
    if not rel.startswith('..'):
        return rel
    home = osp.expanduser('~')
    if home not in ('', '/') and full.startswith(home + os.sep):
        return '~' + full[len(home):]
    return path


def portable_command(cmd: List[str], repo: str) -> List[str]:
    """A command line without this machine's absolute paths: the Python
    executable as ``python``, existing paths via :func:`repo_relative`."""
    out = []
    for i, arg in enumerate(cmd):
        if i == 0 and osp.basename(arg).startswith('python'):
            out.append('python')
        elif osp.isabs(arg) and osp.exists(arg):
            out.append(repo_relative(arg, repo))
        else:
            out.append(arg)
    return out


def versions() -> Dict[str, Optional[str]]:
    """Python and package versions (None for a package not installed)."""
    out = {'python': platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> Optional[str]:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def visible_gpus() -> List[Dict]:
    """GPUs this process may use (``nvidia-smi``, filtered by
    ``CUDA_VISIBLE_DEVICES``); empty without NVIDIA GPUs."""
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if visible is not None and visible.strip() in ('', '-1'):
        return []
    out = _run(['nvidia-smi', '--query-gpu=index,name,memory.total',
                '--format=csv,noheader'])
    if not out:
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(',')]
        if len(parts) == 3:
            gpus.append(dict(index=parts[0], name=parts[1],
                             memory=parts[2]))
    if visible:
        keep = [v.strip() for v in visible.split(',')]
        if all(k.isdigit() for k in keep):
            gpus = [g for g in gpus if g['index'] in keep]
    return gpus


def hardware() -> Dict:
    """Host, CPU and visible GPUs."""
    return dict(host=socket.gethostname(), platform=platform.platform(),
                cpu=_cpu_model(), cpu_count=os.cpu_count(),
                gpus=visible_gpus())
