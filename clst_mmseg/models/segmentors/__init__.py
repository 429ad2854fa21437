from .uda_segmentor import UDASegmentor
from .self_training import SelfTraining
from .cbst import CBST
from .dacs import DACS
from .adaptsegnet import AdaptSegNet
from .advent import ADVENT
from .clst import CLST
from .daformer import DAFormer
from .mic import MIC

__all__ = [
    'UDASegmentor', 'SelfTraining', 'CBST', 'DACS', 'AdaptSegNet', 'ADVENT',
    'CLST', 'DAFormer', 'MIC'
]
