"""Data preprocessor for batches that hold a source and a target half."""
from typing import Any, Dict

from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS


@MODELS.register_module()
class UDADataPreProcessor(SegDataPreProcessor):
    """Normalises, converts and pads both halves of a UDA batch.

    The source half (``inputs``/``data_samples``) is processed exactly as by
    :class:`mmseg.models.SegDataPreProcessor`; during training a target half
    (``target_inputs``/``target_data_samples``) gets the same treatment.
    Batches without a target half (validation, testing, ordinary datasets)
    pass through unchanged, so evaluation sees an ordinary segmentor.

    Args: those of :class:`mmseg.models.SegDataPreProcessor`.
    """

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        out = super().forward(
            dict(inputs=data['inputs'],
                 data_samples=data.get('data_samples')), training)
        if training and 'target_inputs' in data:
            target = super().forward(
                dict(inputs=data['target_inputs'],
                     data_samples=data['target_data_samples']), training)
            out['target_inputs'] = target['inputs']
            out['target_data_samples'] = target['data_samples']
        return out
