"""Base class of the UDA segmentors: an ordinary mmseg segmentor plus the
training objective of a domain adaptation method."""
import functools
from typing import Dict, List, Optional

from mmengine.model import BaseModel, is_model_wrapper
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor


#: Keys mmseg's ``init_model`` sets on every model config (to None); they
#: mean nothing to a UDA wrapper, whose weights come from its checkpoint.
_INFERENCE_KEYS = ('pretrained', 'train_cfg')


def _accept_inference_keys(init):
    """Let a UDA segmentor's ``__init__`` take the keys of
    :data:`_INFERENCE_KEYS` when they are None (``mmseg.apis.init_model``
    sets them on any model), and refuse them with one line otherwise."""

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        for key in _INFERENCE_KEYS:
            if kwargs.get(key, None) is not None:
                raise ValueError(
                    f'model.{key}: {type(self).__name__} does not take '
                    f'{key!r}; set it on the wrapped segmentor '
                    f'(model.segmentor.{key})')
            kwargs.pop(key, None)
        init(self, *args, **kwargs)

    return wrapped


@MODELS.register_module()
class UDASegmentor(BaseModel):
    """Wraps any mmseg segmentor (the student) for domain adaptation.

    The base class trains on the labelled source half only: it is the
    source-only baseline (and, given target labels as its "source", the
    oracle). Subclasses add the target-side terms of their method in
    :meth:`loss` and may override :meth:`train_step` (e.g. for several
    optimizers). Prediction, ``tools/test.py`` and the metrics see the wrapped
    segmentor unchanged; its weights live under the ``segmentor.`` prefix.
    ``mmseg.apis.init_model`` works on every UDA config: this class and its
    subclasses accept the ``pretrained=None`` and ``train_cfg=None`` it sets.

    Under mmengine's ``MMSeparateDistributedDataParallel`` (the adversarial
    methods) ``self.segmentor`` is replaced in place by its DDP wrapper;
    :attr:`segmentor_module` is the segmentor itself in either case.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor, e.g. an
            ``EncoderDecoder``. Its own ``data_preprocessor`` is ignored.
        data_preprocessor (dict, optional): Config of the preprocessor of
            both halves, normally ``UDADataPreProcessor``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    #: Ranges of the method's numeric knobs, checked with the config before
    #: anything is built (``clst_mmseg/apis/config_checks.py``,
    #: ``check_knobs``): constructor argument (dotted for a key of a dict
    #: argument, ``*`` for every key or item) -> interval, e.g.
    #: ``{'my_weight': '[0, inf)', 'warmup_iters': 'int [0, inf)',
    #: 'pseudo_label.threshold': '[0, 1]', 'lambda_adv.*': '[0, inf)'}``.
    #: Subclasses (a user's method too) declare theirs the same way; the
    #: bases' ranges are inherited.
    knob_ranges: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__:
            cls.__init__ = _accept_inference_keys(cls.__init__)

    @_accept_inference_keys
    def __init__(self,
                 segmentor: ConfigType,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        segmentor = dict(segmentor)
        segmentor.pop('data_preprocessor', None)
        self.segmentor = MODELS.build(segmentor)
        self._pseudo_labels: Optional[dict] = None

    @property
    def segmentor_module(self):
        """The mmseg segmentor, without the DDP wrapper that
        ``MMSeparateDistributedDataParallel`` puts around it in place."""
        seg = self.segmentor
        return seg.module if is_model_wrapper(seg) else seg

    @property
    def num_classes(self) -> int:
        return self.segmentor_module.decode_head.num_classes

    @property
    def out_channels(self) -> int:
        """The wrapped segmentor's output channels (mmseg's
        ``SegTTAModel`` reads it to merge augmented predictions)."""
        return self.segmentor.out_channels

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor',
                target_inputs: Optional[Tensor] = None,
                target_data_samples: Optional[SampleList] = None):
        """mmengine's forward: ``loss``, ``predict`` or ``tensor``."""
        if mode == 'loss':
            self._pseudo_labels = None  # a record belongs to one step
            return self.loss(inputs, data_samples, target_inputs,
                             target_data_samples)
        if mode == 'predict':
            return self.segmentor_module.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.segmentor_module._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def loss(self,
             inputs: Tensor,
             data_samples: SampleList,
             target_inputs: Optional[Tensor] = None,
             target_data_samples: Optional[SampleList] = None) -> dict:
        """Losses of one step; the base class uses the source half only.

        Args:
            inputs (Tensor): Source images, (N, C, H, W).
            data_samples (list[SegDataSample]): Source samples with
                ``gt_sem_seg``.
            target_inputs (Tensor, optional): Target images.
            target_data_samples (list[SegDataSample], optional): Target
                samples (meta information, no labels).

        Returns:
            dict[str, Tensor]: Loss terms and logged values.
        """
        return self.segmentor.loss(inputs, data_samples)

    def warmups(self) -> Dict[str, int]:
        """The first iteration of each term that waits for a warm-up
        (name -> iteration), for :class:`WarmupCheckHook`'s check against
        ``max_iters`` at the start of training. The base class has none;
        methods with a warm-up override it."""
        return {}

    # -- pseudo-labels, exposed for diagnostics (no method reads them) -----
    def record_pseudo_labels(
            self, labels: Tensor,
            target_data_samples: Optional[SampleList]) -> None:
        """Keep the pseudo-labels this step trains on, for
        :meth:`last_pseudo_labels`. Methods call it from :meth:`loss`.

        Args:
            labels (Tensor): (N, H, W) integer labels in the frame of the
                (padded) target batch, 255 where a pixel has none.
            target_data_samples (list[SegDataSample]): The target samples
                they belong to (their meta information holds the dataset
                index and the augmentation). Without them (direct calls)
                nothing is kept.
        """
        if target_data_samples is None:
            return
        self._pseudo_labels = dict(
            labels=labels.detach(),
            metainfo=[s.metainfo for s in target_data_samples])

    def last_pseudo_labels(self) -> Optional[dict]:
        """The pseudo-labels the last training step trained on, or None (no
        step yet, a warm-up step, or a method without pseudo-labels).

        Returns:
            dict | None: ``labels`` ((N, H, W), 255 = no label, in the
            padded augmented frame of the target batch) and ``metainfo``
            (one dict per target sample: ``sample_idx``, ``ori_shape``,
            ``img_shape``, ``scale_factor``, ``crop_bbox``, ``flip``,
            ``flip_direction``).
        """
        return self._pseudo_labels

    # mmseg's inference helpers call these on the model they are given.
    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        return self.segmentor_module.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]):
        return self.segmentor_module.encode_decode(inputs, batch_img_metas)

    @property
    def dataset_meta(self) -> Optional[dict]:
        return getattr(self.segmentor_module, 'dataset_meta', None)

    @dataset_meta.setter
    def dataset_meta(self, value: dict) -> None:
        self.segmentor_module.dataset_meta = value
