from .cbst_round_hook import CBSTRoundHook
from .pseudo_label_diagnostics_hook import PseudoLabelDiagnosticsHook
from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import TemporalEnsembleHook

__all__ = [
    'CBSTRoundHook', 'PseudoLabelDiagnosticsHook', 'RNGStateHook',
    'TemporalEnsembleHook'
]
