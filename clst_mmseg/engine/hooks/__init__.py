from .cbst_round_hook import CBSTRoundHook
from .checkpoint_identity_hook import CheckpointIdentityHook
from .code_fingerprint_hook import CodeFingerprintHook
from .memory_growth_hook import MemoryGrowthHook
from .non_finite_check_hook import NonFiniteCheckHook
from .pseudo_label_diagnostics_hook import PseudoLabelDiagnosticsHook
from .resume_schedule_hook import ResumeScheduleHook
from .rng_state_hook import RNGStateHook
from .smoke_probe_hook import SmokeProbeHook
from .split_title_hook import SplitTitleHook
from .temporal_ensemble_hook import (TemporalEnsembleHook,
                                     check_ensemble_pipeline)
from .trajectory_hook import CheckpointTrajectoryHook
from .val_metrics_json_hook import ValMetricsJSONHook
from .warmup_check_hook import WarmupCheckHook

__all__ = [
    'CBSTRoundHook', 'CheckpointIdentityHook', 'CheckpointTrajectoryHook',
    'CodeFingerprintHook',
    'MemoryGrowthHook', 'NonFiniteCheckHook', 'PseudoLabelDiagnosticsHook',
    'RNGStateHook', 'ResumeScheduleHook', 'SmokeProbeHook', 'SplitTitleHook',
    'TemporalEnsembleHook', 'ValMetricsJSONHook', 'WarmupCheckHook',
    'check_ensemble_pipeline'
]
