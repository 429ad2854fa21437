"""Checks of checkpoint files done by the tools before the runner uses them:
which checkpoint ``--resume`` continues from, and whether a checkpoint
given to ``tools/test.py`` fits the model and holds finite weights."""
import glob
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import torch

from clst_mmseg.compat import (CheckpointError, UnsafeCheckpointError,
                               safe_load)
from clst_mmseg.engine.hooks.non_finite_check_hook import first_non_finite

_ITER = re.compile(r'^iter_(\d+)\.pth$')
#: Suffix given to a checkpoint that does not load when ``--resume`` passes
#: over it (kept, never deleted).
CORRUPT_SUFFIX = '.corrupt'


def load_file(path: str) -> Dict:
    """Load a checkpoint with the safe loader (``weights_only=True``), on
    the CPU.

    Raises:
        CheckpointError: One line naming the file when the safe loader
            refuses it or it is truncated / corrupt.
    """
    return safe_load(path, map_location='cpu')


def state_dict_of(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    """The weights of a loaded checkpoint as mmengine reads them (its
    ``state_dict`` entry, else the dict itself; ``module.`` prefixes
    dropped)."""
    state = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else {}
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()
            if torch.is_tensor(v)}


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` (links resolved: a work dir
    reached through a link is still the same folder)."""
    path, folder = osp.realpath(path), osp.realpath(folder)
    return osp.commonpath([path, folder]) == folder


def resume_candidates(work_dir: str,
                      notes: Optional[List[str]] = None) -> List[str]:
    """The checkpoints ``--resume`` may continue from, newest first: the one
    ``last_checkpoint`` names, then every ``iter_N.pth`` by N; only files
    inside ``work_dir``.

    ``last_checkpoint`` holds the absolute path mmengine wrote; in a work
    dir copied or moved elsewhere it still names the original folder.
    Nothing there is read (or set aside): the file of that name in
    ``work_dir`` stands in for it, if there is one.

    Args:
        work_dir (str): The run's work dir.
        notes (list, optional): Receives one line when ``last_checkpoint``
            names a file outside ``work_dir``.
    """
    found = [p for p in glob.glob(osp.join(work_dir, 'iter_*.pth'))
             if _ITER.match(osp.basename(p))]
    found.sort(key=lambda p: -int(_ITER.match(osp.basename(p)).group(1)))
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip() or None
        if named and not osp.isabs(named):
            named = osp.join(work_dir, named)
    if named and not _inside(named, work_dir):
        own = osp.join(work_dir, osp.basename(named))
        if notes is not None:
            notes.append(
                f'{pointer} names {named}, outside the work dir (a copied '
                'or moved work dir?); ' +
                (f'using {own} instead' if osp.isfile(own) else
                 'ignored: only checkpoints inside the work dir are '
                 'resumed from'))
        named = own
    if named and osp.isfile(named):
        found = [named] + [p for p in found
                           if osp.abspath(p) != osp.abspath(named)]
    return found


def newest_loadable(work_dir: str,
                    set_aside: bool = True,
                    notes: Optional[List[str]] = None
                    ) -> Tuple[Optional[str], List[str]]:
    """The newest checkpoint of ``work_dir`` that loads.

    Args:
        work_dir (str): The run's work dir.
        set_aside (bool): Rename each newer one that does not load to
            ``<name>.corrupt`` (so nothing picks it again). Defaults to True.
        notes (list, optional): See :func:`resume_candidates`.

    Returns:
        tuple: ``(path or None, messages)``, one message per checkpoint
        passed over.

    Raises:
        UnsafeCheckpointError: A checkpoint that the safe loader refuses
            (pickled Python objects): not a crash's leftover but a foreign
            file, so it stops the resume instead of being passed over.
    """
    skipped = []
    for path in resume_candidates(work_dir, notes):
        try:
            load_file(path)
            return path, skipped
        except UnsafeCheckpointError:
            raise
        except (CheckpointError, OSError) as e:
            note = ''
            if set_aside:
                try:
                    os.replace(path, path + CORRUPT_SUFFIX)
                    note = f'; kept as {osp.basename(path)}{CORRUPT_SUFFIX}'
                except OSError:
                    pass
            skipped.append(f'{e}{note}')
    return None, skipped


def apply_resume(cfg, resume: bool, echo=print) -> None:
    """``tools/train.py --resume``: continue from the newest checkpoint
    inside the work dir that loads, saying so in one line when it passes
    over a newer one that does not (truncated, empty) or when there is
    none (an empty or mistyped work dir: ``nothing to resume in <dir>;
    training from the start``). A ``last_checkpoint`` that names a file
    outside the work dir (a copied work dir) is never followed there.

    Only rank 0 renames a broken checkpoint and prints; every rank picks
    the same one. A config that sets ``load_from`` keeps mmengine's meaning
    (resume from that file).

    Args:
        cfg (Config): The config; ``resume`` and ``load_from`` are set.
        resume (bool): ``--resume``.
        echo (callable): Prints the one-line notes.

    Raises:
        UnsafeCheckpointError: A checkpoint of the work dir that the safe
            loader refuses.
    """
    cfg.resume = resume
    if not resume or cfg.get('load_from'):
        return
    rank0 = os.environ.get('RANK', os.environ.get('SLURM_PROCID',
                                                  '0')) == '0'
    notes: List[str] = []
    path, skipped = newest_loadable(cfg.work_dir, set_aside=rank0,
                                    notes=notes)
    if rank0:
        for note in notes:
            echo(f'resume: {note}')
        if skipped:
            echo(f'resume: passed over {len(skipped)} checkpoint(s) that do '
                 f'not load ({"; ".join(skipped)}); ' +
                 (f'resuming from {path}' if path else
                  'no checkpoint loads: training from the start'))
        elif path is None:
            echo(f'resume: nothing to resume in {cfg.work_dir}; training '
                 'from the start')
    cfg.load_from = path
    cfg.resume = path is not None


def _unwrap(model):
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def check_fits(model, path: str) -> None:
    """Stop when a checkpoint does not fit ``model``: none of its tensors
    has a name of the model's, or a shared name has another shape (mmengine
    only warns, and the test would score random weights), or one of its
    weights is NaN/inf.

    Args:
        model (nn.Module): The built model (wrappers are looked through).
        path (str): The checkpoint.

    Raises:
        CheckpointError: One line naming the file.
    """
    ckpt = state_dict_of(load_file(path))
    own = _unwrap(model).state_dict()
    common = [k for k in ckpt if k in own]
    if not common:
        raise CheckpointError(
            f'{path} does not fit the model: none of its {len(ckpt)} tensors '
            f'has a name of the model\'s {len(own)} (e.g. '
            f'{next(iter(ckpt), "-")!r} vs {next(iter(own), "-")!r})')
    wrong = [k for k in common if tuple(ckpt[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(
            f'{path} does not fit the model: {len(wrong)} tensor(s) differ '
            f'in shape, e.g. {k}: {tuple(ckpt[k].shape)} in the checkpoint, '
            f'{tuple(own[k].shape)} in the model')
    bad = first_non_finite(ckpt)
    if bad is not None:
        raise CheckpointError(f'non-finite weights in {path}: {bad} holds '
                              'NaN or inf')
