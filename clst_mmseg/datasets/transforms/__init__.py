from .geometry import UDA_META_KEYS, PackUDAInputs, RecordedRandomCrop

__all__ = ['PackUDAInputs', 'RecordedRandomCrop', 'UDA_META_KEYS']
