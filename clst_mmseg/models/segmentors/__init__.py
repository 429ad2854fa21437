from .uda_segmentor import UDASegmentor
from .self_training import SelfTraining
from .dacs import DACS
from .adaptsegnet import AdaptSegNet
from .advent import ADVENT
from .clst import CLST

__all__ = [
    'UDASegmentor', 'SelfTraining', 'DACS', 'AdaptSegNet', 'ADVENT', 'CLST'
]
