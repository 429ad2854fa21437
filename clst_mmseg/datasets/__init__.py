from .. import compat  # noqa: F401  (applied on import, before mmseg)
from .adverse_datasets import AdverseSourceDataset, AdverseTargetDataset
from .aerial_datasets import AerialSourceDataset, AerialTargetDataset
from .gta import GTADataset
from .mini_datasets import MiniSourceDataset, MiniTargetDataset
from .synthia import SynthiaDataset
from .transforms import PackUDAInputs, RecordedRandomCrop
from .uda_dataset import UDADataset

__all__ = [
    'GTADataset', 'SynthiaDataset', 'MiniSourceDataset', 'MiniTargetDataset',
    'UDADataset', 'PackUDAInputs', 'RecordedRandomCrop',
    'AdverseSourceDataset', 'AdverseTargetDataset', 'AerialSourceDataset',
    'AerialTargetDataset'
]
