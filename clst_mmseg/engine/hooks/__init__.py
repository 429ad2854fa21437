from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import (TemporalEnsembleHook,
                                     check_ensemble_pipeline)
from .warmup_check_hook import WarmupCheckHook

__all__ = [
    'RNGStateHook', 'TemporalEnsembleHook', 'WarmupCheckHook',
    'check_ensemble_pipeline'
]
