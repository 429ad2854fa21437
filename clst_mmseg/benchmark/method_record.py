"""The record check of ``tools/check_method.py``: one short run of a config
executed by the benchmark (``tools/train.py`` in a subprocess, as a suite's
runs are), and its result record validated."""
import os.path as osp
from typing import Any, Dict, Optional, Tuple

from .identity import config_hash, hashed_config, make_run_id, resolve_config
from .overrides import to_cli
from .run_one import execute
from .schema import record_problem
from .spec import RunSpec
from .suite import REPO_ROOT


def method_and_task(config: str) -> Tuple[str, str]:
    """A config's method and task keys as a suite names them:
    ``configs/<method>/<task>.py`` (the folder and the file name)."""
    folder, name = osp.split(osp.abspath(config))
    return osp.basename(folder), osp.splitext(name)[0]


def record_run(config: str, overrides: Dict[str, Any], work_dir: str,
               seed: int = 0, method: Optional[str] = None,
               task: Optional[str] = None) -> RunSpec:
    """The run spec of one CPU run of ``config`` with ``overrides``, its
    work dir and results store under ``work_dir``."""
    found_method, found_task = method_and_task(config)
    method, task = method or found_method, task or found_task
    resolved = resolve_config(config, overrides)
    chash = config_hash(resolved)
    return RunSpec(
        run_id=make_run_id(task, method, chash, seed), task=task,
        method=method, seed=seed, config=osp.abspath(config),
        config_display=config, config_hash=chash,
        cfg_options=to_cli({**overrides, 'randomness.seed': seed}),
        overrides=dict(overrides), resolved_config=hashed_config(resolved),
        work_dir=osp.join(osp.abspath(work_dir), 'run'),
        results_dir=osp.join(osp.abspath(work_dir), 'results'),
        train_script=osp.join(REPO_ROOT, 'tools', 'train.py'),
        test_script=osp.join(REPO_ROOT, 'tools', 'test.py'),
        max_iters=(resolved.get('train_cfg') or {}).get('max_iters'),
        device='cpu')


def check_record(config: str, overrides: Dict[str, Any], work_dir: str,
                 seed: int = 0, method: Optional[str] = None,
                 task: Optional[str] = None) -> Tuple[bool, str]:
    """Execute one short run through the benchmark and validate its record
    (:func:`~.schema.record_problem`).

    Args:
        config (str): Config file.
        overrides (dict): Suite-style overrides (the short schedule).
        work_dir (str): Folder for the run and its record.
        seed (int): Seed. Defaults to 0.
        method, task (str, optional): Keys of the record; default: the
            config's folder and file name.

    Returns:
        tuple[bool, str]: Whether the run finished with a valid record, and
        why (one line).
    """
    spec = record_run(config, overrides, work_dir, seed, method, task)
    outcome = execute(spec, retrain=True)
    rec = outcome.record
    if rec is None:
        return False, f'the benchmark wrote no record ({outcome.state})'
    problem = record_problem(rec, spec.task, spec.run_id)
    if problem is not None:
        return False, f'the record is not valid: {problem}'
    if rec['status'] != 'finished':
        reason = rec.get('reason') or {}
        return False, (f'the run {rec["status"]}: {reason.get("kind")}: '
                       f'{reason.get("message")} (log: '
                       f'{osp.join(spec.work_dir, "train.log")})')
    metric = (rec.get('metrics') or {}).get('mIoU')
    shown = f', mIoU {metric:.2f}' if isinstance(metric, (int, float)) \
        else ''
    return True, (f'the benchmark ran {rec["iterations"]} iterations in a '
                  f'subprocess and wrote a valid record: {rec["status"]}'
                  f'{shown}, {len(rec.get("per_class_iou") or {})} classes, '
                  f'metrics from {rec["checkpoint"]["evaluated_by"]}')
