from .cached_loading import CachedLoadAnnotations, CachedLoadImageFromFile
from .geometry import UDA_META_KEYS, PackUDAInputs, RecordedRandomCrop

__all__ = [
    'CachedLoadAnnotations', 'CachedLoadImageFromFile', 'PackUDAInputs',
    'RecordedRandomCrop', 'UDA_META_KEYS'
]
