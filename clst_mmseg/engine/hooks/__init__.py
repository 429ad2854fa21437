from .rng_state_hook import RNGStateHook
from .smoke_probe_hook import SmokeProbeHook
from .temporal_ensemble_hook import TemporalEnsembleHook

__all__ = ['RNGStateHook', 'SmokeProbeHook', 'TemporalEnsembleHook']
