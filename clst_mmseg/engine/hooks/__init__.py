from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import TemporalEnsembleHook

__all__ = ['RNGStateHook', 'TemporalEnsembleHook']
