from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import TemporalEnsembleHook
from .warmup_check_hook import WarmupCheckHook

__all__ = ['RNGStateHook', 'TemporalEnsembleHook', 'WarmupCheckHook']
