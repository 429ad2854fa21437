"""Everything a training reads from disk, checked at once: the pretrained
weights files and the datasets (present, complete, converted, consistent
with the model). A user who has neither sees one report of everything
missing, each line with what fixes it, instead of a first error about the
weights and, once past it, a second one about the data."""
from typing import List, Optional, Tuple

from mmengine.config import Config

from clst_mmseg.datasets.verify import config_problems, format_problems
from .pretrained_check import pretrained_weights_problems


class RunInputsError(FileNotFoundError, ValueError):
    """Missing or incomplete inputs of a run (weights, data), with the fix
    of each; ``problems`` holds them (``Problem`` lines)."""

    def __init__(self, message: str, problems: List[str]) -> None:
        super().__init__(message)
        self.problems = problems


def run_input_problems(cfg: Config,
                       weights: bool = True,
                       data: bool = True,
                       load_weights: bool = False,
                       max_label_checks: Optional[int] = None
                       ) -> Tuple[List[str], List[str]]:
    """The problems of a run's inputs, weights first, and notes of what
    was counted.

    Args:
        cfg (Config): The merged config.
        weights (bool): Check the pretrained weights files (a training;
            testing loads a trained checkpoint instead). Defaults to True.
        data (bool): Check the datasets (see
            :func:`~clst_mmseg.datasets.verify.verify_config`).
            Defaults to True.
        load_weights (bool): Load each weights file with
            ``weights_only=True``. Defaults to False.
        max_label_checks (int, optional): Label files whose values are
            read per dataset. Defaults to None (all).

    Returns:
        tuple[list[str], list[str]]: Problems (each with its ``fix``) and
        notes.
    """
    problems: List[str] = []
    notes: List[str] = []
    if weights:
        problems += pretrained_weights_problems(cfg, load=load_weights)
    if data:
        found, notes = config_problems(cfg, max_label_checks)
        problems += found
    return problems, notes


def check_run_inputs(cfg: Config, weights: bool = True,
                     data: bool = True) -> None:
    """Raise one :class:`RunInputsError` listing every problem of
    :func:`run_input_problems` (one line when there is one).

    Raises:
        RunInputsError: A ``FileNotFoundError`` and a ``ValueError``.
    """
    problems, _ = run_input_problems(cfg, weights, data)
    if not problems:
        return
    if len(problems) == 1:
        p = problems[0]
        fix = getattr(p, 'fix', None)
        raise RunInputsError(f'{p}; {fix}' if fix else str(p), problems)
    name = getattr(cfg, 'filename', None) or '<in memory>'
    raise RunInputsError(format_problems(
        f'{len(problems)} problem(s) with the inputs of {name} (weights, '
        'then data), each with what fixes it:', problems), problems)
