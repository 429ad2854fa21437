from .checkpoint_identity_hook import CheckpointIdentityHook
from .memory_growth_hook import MemoryGrowthHook
from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import TemporalEnsembleHook

__all__ = [
    'CheckpointIdentityHook', 'MemoryGrowthHook', 'RNGStateHook',
    'TemporalEnsembleHook'
]
