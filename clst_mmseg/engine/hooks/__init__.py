from .rng_state_hook import RNGStateHook
from .trajectory_hook import CheckpointTrajectoryHook
from .temporal_ensemble_hook import TemporalEnsembleHook

__all__ = ['CheckpointTrajectoryHook', 'RNGStateHook', 'TemporalEnsembleHook']
