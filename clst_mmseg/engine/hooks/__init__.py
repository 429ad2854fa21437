from .non_finite_check_hook import NonFiniteCheckHook
from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import TemporalEnsembleHook

__all__ = ['NonFiniteCheckHook', 'RNGStateHook', 'TemporalEnsembleHook']
