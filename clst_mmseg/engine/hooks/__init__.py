from .rng_state_hook import RNGStateHook
from .temporal_ensemble_hook import TemporalEnsembleHook
from .val_metrics_json_hook import ValMetricsJSONHook

__all__ = ['RNGStateHook', 'TemporalEnsembleHook', 'ValMetricsJSONHook']
