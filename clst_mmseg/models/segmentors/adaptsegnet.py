"""AdaptSegNet (Tsai et al., "Learning to Adapt Structured Output Space for
Semantic Segmentation", CVPR 2018): multi-level adversarial training in the
output space."""
import copy
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner.checkpoint import get_state_dict
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList, add_prefix
from torch import Tensor

from ..discriminators import AdversarialLoss, LevelDiscriminators
from .uda_segmentor import UDASegmentor

LEVELS = ('main', 'aux')  # decode head (last layer), auxiliary head (layer3)


def _merge(base: dict, update: dict) -> dict:
    """Recursive dict merge: ``update`` wins, nested dicts are merged."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def with_auxiliary_head(segmentor: ConfigType,
                        auxiliary_head: OptConfigType) -> dict:
    """The segmentor config with the multi-level (auxiliary) classifier.

    The auxiliary classifier is a copy of the main one (``decode_head``)
    reading another backbone output: ``auxiliary_head`` overrides the copy's
    keys (nested dicts merged) and must name ``in_index`` and
    ``in_channels`` itself, since the main head's values are those of the
    last layer.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        auxiliary_head (dict, optional): Overrides of the copy; None keeps
            the segmentor config as it is.

    Returns:
        dict: The segmentor config.
    """
    segmentor = copy.deepcopy(dict(segmentor))
    if auxiliary_head is None:
        return segmentor
    if segmentor.get('auxiliary_head') is not None:
        raise ValueError('model.auxiliary_head: the segmentor config already '
                         'has an auxiliary_head; set it in one place')
    for key in ('in_index', 'in_channels'):
        if key not in auxiliary_head:
            raise ValueError(f'model.auxiliary_head.{key}: required (the '
                             "backbone output the auxiliary classifier "
                             'reads and its channels, e.g. in_index=0, '
                             'in_channels=1024 for ResNet-101 layer3)')
    segmentor['auxiliary_head'] = _merge(segmentor['decode_head'],
                                         auxiliary_head)
    return segmentor


@MODELS.register_module()
class AdaptSegNet(UDASegmentor):
    """Multi-level output-space adversarial adaptation (AdaptSegNet).

    Each training step, as in the reference code: (1) the segmentor gets the
    source cross-entropy of its main and auxiliary (layer3) classifiers,
    plus, per level, ``lambda_adv[level]`` times the adversarial loss that
    pushes the level's discriminator to output the source label on the
    target softmax map; the discriminators get no gradient from this step.
    (2) Each discriminator learns source label on the detached source map and
    target label on the detached target map (each term halved). The maps are
    the softmax of the logits upsampled to the input size.

    The segmentor and the discriminators have their own optimizer wrappers,
    ``optim_wrapper['segmentor']`` and ``optim_wrapper['discriminators']``
    (see :class:`UDAOptimWrapperConstructor`), so their states and schedules
    are checkpointed and resumed. Prediction uses the main classifier only.

    Multi-process training uses mmengine's
    ``MMSeparateDistributedDataParallel`` (``model_wrapper_cfg`` of the
    method's config fragment): it wraps ``segmentor`` and ``discriminators``
    in separate DDP wrappers in place, and every forward of a step goes
    through them (:meth:`level_logits`, ``self.discriminators(maps)``), so
    each update averages its own gradients over the processes.

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        auxiliary_head (dict, optional): Overrides that turn a copy of the
            main classifier into the auxiliary one (see
            :func:`with_auxiliary_head`); its ``loss_decode.loss_weight`` is
            lambda_seg of the auxiliary level. None: single level (unless the
            segmentor config already has an ``auxiliary_head``).
        discriminator (dict): Config of one discriminator; ``in_channels``
            is set to the number of classes. One is built per level.
        lambda_adv (dict): Weight of the adversarial loss per level,
            ``main`` and, with an auxiliary head, ``aux``.
        gan_mode (str): ``'vanilla'`` (BCE) or ``'lsgan'``.
        source_label (float): Discriminator label of source maps.
        target_label (float): Discriminator label of target maps.
        data_preprocessor (dict, optional): The UDA preprocessor.
        init_cfg (dict, optional): Initialisation config.
    """

    knob_ranges = {
        'lambda_adv.*': '[0, inf)',
        # the vanilla GAN loss needs [0, 1] (checked when it is built)
        'source_label': '(-inf, inf)',
        'target_label': '(-inf, inf)',
    }

    def __init__(self,
                 segmentor: ConfigType,
                 auxiliary_head: OptConfigType = None,
                 discriminator: ConfigType = dict(type='FCDiscriminator'),
                 lambda_adv: Optional[Dict[str, float]] = None,
                 gan_mode: str = 'vanilla',
                 source_label: float = 0.0,
                 target_label: float = 1.0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(
            segmentor=with_auxiliary_head(segmentor, auxiliary_head),
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if isinstance(getattr(self.segmentor, 'auxiliary_head', None),
                      nn.ModuleList):
            raise ValueError('model.segmentor.auxiliary_head: one auxiliary '
                             'classifier expected, got a list')
        self.levels = LEVELS if self.segmentor.with_auxiliary_head \
            else LEVELS[:1]
        if lambda_adv is None:
            raise ValueError('model.lambda_adv: required, the weight of the '
                             'adversarial loss per level, e.g. '
                             'dict(main=0.001, aux=0.0002)')
        # an empty dict builds no discriminator (ADVENT's MinEnt variant)
        self.lambda_adv = self._level_weights('lambda_adv', lambda_adv)
        self.adversarial = AdversarialLoss(gan_mode, source_label,
                                           target_label)
        self.discriminators = LevelDiscriminators({
            level: MODELS.build(
                dict(discriminator, in_channels=self.num_classes))
            for level in self.lambda_adv
        })

    def _level_weights(self, key: str, weights: dict) -> Dict[str, float]:
        """Check a per-level weight dict against the levels of the model."""
        weights = dict(weights)
        unknown = set(weights) - set(self.levels)
        if unknown:
            hint = ' (no auxiliary_head is configured)' \
                if 'aux' in unknown else ''
            raise ValueError(f'model.{key}: levels {sorted(unknown)} are not '
                             f'among the model\'s levels {self.levels}{hint}')
        if weights and set(weights) != set(self.levels):
            raise ValueError(f'model.{key}: expected a weight for each level '
                             f'{self.levels}, got {sorted(weights)}')
        return {level: float(weights[level]) for level in self.levels
                if level in weights}

    def state_dict(self, *args, destination=None, prefix='',
                   keep_vars=False):
        """The state dict with the keys of the plain model (``segmentor.*``,
        ``discriminators.*``) also under
        ``MMSeparateDistributedDataParallel``, whose in-place DDP wrappers
        would add ``.module`` to them: mmengine's ``get_state_dict`` skips
        model wrappers, as its ``load_state_dict`` does when loading."""
        if args:
            raise TypeError('AdaptSegNet.state_dict: pass destination, '
                            'prefix and keep_vars by keyword')
        return get_state_dict(self, destination, prefix, keep_vars)

    # ------------------------------------------------------------------
    # forward pieces
    # ------------------------------------------------------------------
    def level_logits(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Logits of each level at feature resolution.

        The segmentor runs through its own ``forward`` (mode ``tensor``:
        features, then the main classifier), which under
        ``MMSeparateDistributedDataParallel`` is the DDP wrapper's: that is
        what makes the wrapper average the step's gradients over processes.
        The features it computed are caught with a forward hook for the
        auxiliary classifier, so the backbone runs once. Keep
        ``find_unused_parameters=False``: the auxiliary classifier is
        outside that forward and DDP's unused-parameter search would call it
        unused.

        Args:
            inputs (Tensor): Normalised images, (N, 3, H, W).

        Returns:
            dict[str, Tensor]: ``main`` (and ``aux``) logits.
        """
        seg = self.segmentor_module
        feats = []
        handle = (seg.neck if seg.with_neck else seg.backbone
                  ).register_forward_hook(lambda m, i, out: feats.append(out))
        try:
            out = dict(main=self.segmentor(inputs, mode='tensor'))
        finally:
            handle.remove()
        if 'aux' in self.levels:
            out['aux'] = seg.auxiliary_head.forward(feats[0])
        return out

    def _upsample(self, logits: Tensor, size) -> Tensor:
        return resize(logits, size=size, mode='bilinear',
                      align_corners=self.segmentor_module.align_corners)

    def discriminator_input(self, logits: Tensor) -> Tensor:
        """The map a discriminator sees: AdaptSegNet's softmax.

        Args:
            logits (Tensor): Logits at input resolution, (N, C, H, W).

        Returns:
            Tensor: (N, C, H, W).
        """
        return F.softmax(logits, dim=1)

    def source_losses(self, logits: Dict[str, Tensor],
                      data_samples: SampleList) -> dict:
        """Cross-entropy of each level on the source labels (the auxiliary
        head's ``loss_weight`` is lambda_seg)."""
        seg = self.segmentor_module
        losses = add_prefix(
            seg.decode_head.loss_by_feat(logits['main'], data_samples),
            'decode')
        if 'aux' in logits:
            losses.update(add_prefix(
                seg.auxiliary_head.loss_by_feat(
                    logits['aux'], data_samples), 'aux'))
        return losses

    def target_losses(self, target_logits: Dict[str, Tensor],
                      target_maps: Dict[str, Tensor]) -> dict:
        """Segmentor-side target terms: the weighted adversarial losses.

        Args:
            target_logits (dict): Upsampled target logits per level.
            target_maps (dict): Discriminator inputs per level.

        Returns:
            dict: ``loss_adv_<level>`` (weighted).
        """
        losses = {}
        if not self.lambda_adv:
            return losses
        d_out = self.discriminators(target_maps)
        for level, weight in self.lambda_adv.items():
            losses[f'loss_adv_{level}'] = weight * \
                self.adversarial.generator(d_out[level])
        return losses

    def segmentor_losses(
        self, inputs: Tensor, data_samples: SampleList, target_inputs: Tensor
    ) -> Tuple[dict, Dict[str, Tensor], Dict[str, Tensor]]:
        """All losses of the segmentor and the (detached) discriminator
        inputs of both domains.

        Returns:
            tuple: (losses, source maps, target maps); the maps are empty
            dicts when there is no discriminator.
        """
        if target_inputs is None:
            raise ValueError(f'{type(self).__name__}: training needs the '
                             'target half of the batch (a UDADataset)')
        src_logits = self.level_logits(inputs)
        losses = self.source_losses(src_logits, data_samples)

        tgt_logits = {
            level: self._upsample(x, target_inputs.shape[2:])
            for level, x in self.level_logits(target_inputs).items()
        }
        tgt_maps = {
            level: self.discriminator_input(tgt_logits[level])
            for level in self.lambda_adv
        }
        losses.update(self.target_losses(tgt_logits, tgt_maps))
        with torch.no_grad():
            src_maps = {
                level: self.discriminator_input(
                    self._upsample(src_logits[level], inputs.shape[2:]))
                for level in self.lambda_adv
            }
        return losses, src_maps, {k: v.detach() for k, v in tgt_maps.items()}

    def discriminator_losses(self, source_maps: Dict[str, Tensor],
                             target_maps: Dict[str, Tensor]) -> dict:
        """Discriminator losses (and accuracies, logged only).

        Args:
            source_maps (dict): Detached source maps per level.
            target_maps (dict): Detached target maps per level.

        Returns:
            dict: ``loss_d_<level>`` and ``acc_d_<level>``.
        """
        losses = {}
        d_src = self.discriminators(source_maps)
        d_tgt = self.discriminators(target_maps)
        for level in self.lambda_adv:
            losses[f'loss_d_{level}'] = self.adversarial.discriminator(
                d_src[level], d_tgt[level])
            losses[f'acc_d_{level}'] = self.adversarial.accuracy(
                d_src[level].detach(), d_tgt[level].detach())
        return losses

    # ------------------------------------------------------------------
    # mmengine entry points
    # ------------------------------------------------------------------
    def loss(self,
             inputs: Tensor,
             data_samples: SampleList,
             target_inputs: Optional[Tensor] = None,
             target_data_samples: Optional[SampleList] = None) -> dict:
        """The segmentor's losses of one step (no discriminator update)."""
        return self.segmentor_losses(inputs, data_samples, target_inputs)[0]

    def _wrappers(self, optim_wrapper) -> Tuple[OptimWrapper,
                                                Optional[OptimWrapper]]:
        name = type(self).__name__
        if not isinstance(optim_wrapper, OptimWrapperDict) or \
                'segmentor' not in optim_wrapper:
            raise TypeError(
                f'{name}: expected an OptimWrapperDict with a "segmentor" '
                'wrapper (set optim_wrapper.constructor='
                "'UDAOptimWrapperConstructor'), got "
                f'{type(optim_wrapper).__name__}')
        if self.lambda_adv and 'discriminators' not in optim_wrapper:
            raise KeyError(f'{name}: optim_wrapper has no "discriminators" '
                           'wrapper (add optim_wrapper.discriminators)')
        disc = optim_wrapper['discriminators'] \
            if self.lambda_adv else None
        return optim_wrapper['segmentor'], disc

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One step: update the segmentor, then the discriminators.

        Args:
            data (dict): A batch from the UDA dataloader.
            optim_wrapper (OptimWrapperDict): ``segmentor`` and (when the
                model has discriminators) ``discriminators``.

        Returns:
            dict[str, Tensor]: Logged values.
        """
        seg_wrapper, disc_wrapper = self._wrappers(optim_wrapper)

        self.discriminators.requires_grad_(False)
        with seg_wrapper.optim_context(self.segmentor):
            data = self.data_preprocessor(data, True)
            losses, src_maps, tgt_maps = self.segmentor_losses(
                data['inputs'], data['data_samples'],
                data.get('target_inputs'))
        loss, log_vars = self.parse_losses(losses)
        seg_wrapper.update_params(loss)
        self.discriminators.requires_grad_(True)

        if disc_wrapper is not None:
            with disc_wrapper.optim_context(self.discriminators):
                d_losses = self.discriminator_losses(src_maps, tgt_maps)
            d_loss, d_log_vars = self.parse_losses(d_losses)
            disc_wrapper.update_params(d_loss)
            d_log_vars.pop('loss')
            log_vars.update(d_log_vars)
        return log_vars
