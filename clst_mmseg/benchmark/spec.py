"""One run of a suite, as the executors and the run worker see it."""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class RunSpec:
    """Everything needed to execute and record one run (picklable, so a
    Slurm job receives it as is).

    Args:
        run_id (str): Stable id (task, method, config hash, seed).
        task (str): Task key, e.g. ``'mini'``.
        method (str): Method key (a ``configs/<method>/`` name or an
            ablation ``<method>-<name>``).
        seed (int): Random seed (``randomness.seed``).
        config (str): Absolute path of the config file.
        config_hash (str): Hash of the resolved config without the seed.
        cfg_options (list[str]): ``--cfg-options`` strings, seed included.
        overrides (dict): The suite overrides (dotted keys), seed excluded.
        resolved_config (dict): Canonical resolved config (what was hashed).
        work_dir (str): The run's own work dir (absolute).
        results_dir (str): Root of the results store (absolute).
        train_script (str): ``tools/train.py`` (absolute).
        test_script (str): ``tools/test.py`` (absolute).
        max_iters (int, optional): ``train_cfg.max_iters`` of the config.
        checkpoint (str): ``'last'`` or ``'best'`` (best on target val:
            flagged as oracle selection). Defaults to ``'last'``.
        device (str): ``'cpu'``, ``'cuda'`` or ``'auto'``.
        gpus_per_run (int): Processes (GPUs) per run; > 1 uses torchrun.
        suite (str): Suite file the run comes from.
        config_display (str): Config path as the suite names it.
    """
    run_id: str
    task: str
    method: str
    seed: int
    config: str
    config_hash: str
    cfg_options: List[str]
    overrides: Dict[str, Any]
    resolved_config: Dict[str, Any]
    work_dir: str
    results_dir: str
    train_script: str
    test_script: str
    max_iters: Optional[int] = None
    checkpoint: str = 'last'
    device: str = 'auto'
    gpus_per_run: int = 1
    suite: str = ''
    config_display: str = ''
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short human name, e.g. ``mini/oracle/s0``."""
        return f'{self.task}/{self.method}/s{self.seed}'

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'RunSpec':
        return cls(**data)
