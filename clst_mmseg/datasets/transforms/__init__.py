from .cached_loading import CachedLoadAnnotations, CachedLoadImageFromFile
from .eval_resolution import ResizeLabelsForEval
from .geometry import UDA_META_KEYS, PackUDAInputs, RecordedRandomCrop

__all__ = [
    'CachedLoadAnnotations', 'CachedLoadImageFromFile', 'PackUDAInputs',
    'RecordedRandomCrop', 'ResizeLabelsForEval', 'UDA_META_KEYS'
]
