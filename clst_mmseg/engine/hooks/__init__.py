from .cbst_round_hook import CBSTRoundHook
from .non_finite_check_hook import NonFiniteCheckHook
from .pseudo_label_diagnostics_hook import PseudoLabelDiagnosticsHook
from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import (TemporalEnsembleHook,
                                     check_ensemble_pipeline)
from .warmup_check_hook import WarmupCheckHook

__all__ = [
    'CBSTRoundHook', 'NonFiniteCheckHook', 'PseudoLabelDiagnosticsHook',
    'RNGStateHook', 'TemporalEnsembleHook', 'WarmupCheckHook',
    'check_ensemble_pipeline'
]
