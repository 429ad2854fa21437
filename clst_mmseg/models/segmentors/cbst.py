"""CBST as released: class-balanced self-training in rounds over the whole
target set (Zou et al., ECCV 2018; yzou2/CBST, yzou2/CRST ``crst_seg.py``)."""
from typing import List, Optional

import torch
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..utils.pseudo_label import KC_POLICIES
from .self_training import SelfTraining

_PSEUDO_KEYS = ('policy', 'portion', 'portion_step', 'max_portion', 'ds_rate',
                'flip')


@MODELS.register_module()
class CBST(SelfTraining):
    """Class-balanced self-training in rounds, as the released code runs it.

    After a source-only warm-up (standing in for the source-trained model
    CBST starts from), training runs ``num_rounds`` rounds of equal length.
    At the start of round ``r`` (:class:`CBSTRoundHook`, in
    ``custom_hooks``) the current network predicts the whole target train
    set; the thresholds ``k_c`` are computed once from those predictions
    with portion ``min(portion + r * portion_step, max_portion)`` (see
    :func:`portion_thresholds`); every image gets the pseudo-labels
    ``argmax_c p_c / k_c``, kept where that ratio is >= 1 (see
    :func:`class_normalised_labels`); the round then trains on them. Each
    step: source cross-entropy plus ``loss_weight`` times the cross-entropy
    on the target batch against its pseudo-labels, which the hook writes
    into the target samples (``gt_sem_seg``) in the frame of each sample's
    augmentation. The thresholds in use are kept in the buffer
    ``cb_thresholds`` (-1 before the first round).

    Args:
        segmentor (dict): Config of the wrapped mmseg segmentor.
        pseudo_label (dict): ``policy`` ('class_balanced': CBST, one
            ``k_c`` per class; 'global': one class-agnostic threshold, the
            CBST paper's "ST"), ``portion`` (of round 0), ``portion_step``
            (added per round), ``max_portion``, ``ds_rate`` (every how many
            pixels of a class are sampled for ``k_c``), ``flip`` (average the
            prediction with that of the flipped image when labelling).
        num_rounds (int): Rounds of pseudo-labelling and retraining after the
            warm-up. Defaults to 3.
        warmup_iters (int): Source-only iterations before round 0.
            Defaults to 0.
        warmup_ratio (float, optional): The warm-up as a fraction of the
            run's ``max_iters``; overrides ``warmup_iters`` under a runner.
        target_augment (dict, optional): Photometric augmentation of the
            student's target input; None (as released) turns it off.
        loss_weight (float): Weight of the target loss. Defaults to 1.
        data_preprocessor (dict, optional): Config of the preprocessor.
        init_cfg (dict, optional): Initialisation config.
    """

    knob_ranges = {
        'num_rounds': 'int [1, inf)',
        'pseudo_label.portion_step': '[0, 1]',
        'pseudo_label.max_portion': '(0, 1]',
        'pseudo_label.ds_rate': 'int [1, inf)',
    }

    def __init__(self,
                 segmentor: ConfigType,
                 pseudo_label: dict = dict(
                     policy='class_balanced', portion=0.2, portion_step=0.05,
                     max_portion=0.5, ds_rate=4, flip=True),
                 num_rounds: int = 3,
                 warmup_iters: int = 0,
                 warmup_ratio: Optional[float] = None,
                 target_augment: Optional[dict] = None,
                 loss_weight: float = 1.0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(segmentor, pseudo_label, warmup_iters, warmup_ratio,
                         target_augment, loss_weight, data_preprocessor,
                         init_cfg)
        if int(num_rounds) != num_rounds or num_rounds < 1:
            raise ValueError('CBST: num_rounds must be an integer >= 1, got '
                             f'{num_rounds!r}')
        self.num_rounds = int(num_rounds)

    @staticmethod
    def _check_pseudo_cfg(cfg: dict) -> dict:
        cfg = dict(cfg)
        unknown = set(cfg) - set(_PSEUDO_KEYS)
        if unknown:
            raise ValueError(f'CBST: pseudo_label keys {sorted(unknown)} are '
                             f'unknown; expected {list(_PSEUDO_KEYS)}')
        cfg.setdefault('policy', 'class_balanced')
        cfg.setdefault('portion_step', 0.0)
        cfg.setdefault('ds_rate', 1)
        cfg.setdefault('flip', False)
        if cfg['policy'] not in KC_POLICIES:
            raise ValueError(f'CBST: pseudo_label.policy must be one of '
                             f'{KC_POLICIES}, got {cfg["policy"]!r}')
        if not 0 < cfg.get('portion', 0) <= 1:
            raise ValueError('CBST: pseudo_label.portion must be given, in '
                             '(0, 1]')
        cfg.setdefault('max_portion', cfg['portion'])
        if not cfg['portion'] <= cfg['max_portion'] <= 1:
            raise ValueError('CBST: pseudo_label.max_portion must be in '
                             f'[portion, 1], got {cfg["max_portion"]}')
        if cfg['portion_step'] < 0:
            raise ValueError('CBST: pseudo_label.portion_step must be >= 0, '
                             f'got {cfg["portion_step"]}')
        if int(cfg['ds_rate']) != cfg['ds_rate'] or cfg['ds_rate'] < 1:
            raise ValueError('CBST: pseudo_label.ds_rate must be an integer '
                             f'>= 1, got {cfg["ds_rate"]!r}')
        return cfg

    # -- rounds ------------------------------------------------------------
    def round_starts(self) -> List[int]:
        """The first iteration of every round: the warm-up's end, then equal
        shares of the remaining ``max_iters``."""
        max_iters = self._max_iters()
        if not max_iters:
            raise RuntimeError('CBST: the rounds follow the run length '
                               '(max_iters in the message hub); train under '
                               'an mmengine runner')
        start = self.warmup_end()
        length = (max_iters - start) / self.num_rounds
        return [start + int(round(r * length))
                for r in range(self.num_rounds)]

    def round_at(self, iteration: int) -> Optional[int]:
        """The round iteration ``iteration`` belongs to (None during the
        warm-up)."""
        rounds = [r for r, s in enumerate(self.round_starts())
                  if s <= iteration]
        return rounds[-1] if rounds else None

    def round_portion(self, r: int) -> float:
        """The portion of round ``r``: ``min(portion + r * portion_step,
        max_portion)``."""
        cfg = self.pseudo_cfg
        return min(cfg['portion'] + r * cfg['portion_step'],
                   cfg['max_portion'])

    def select(self, probs: Tensor) -> Tensor:
        raise RuntimeError('CBST labels whole rounds (CBSTRoundHook), not '
                           'single batches')

    # -- training ----------------------------------------------------------
    def target_pseudo_labels(self, target_inputs: Tensor,
                             target_data_samples: SampleList) -> Tensor:
        """The round's pseudo-labels the hook wrote into the target samples,
        padded to the batch (255)."""
        maps = []
        for s in target_data_samples:
            if 'gt_sem_seg' not in s:
                raise KeyError(
                    'CBST: target samples carry no pseudo-labels after the '
                    'warm-up; add CBSTRoundHook to custom_hooks')
            maps.append(s.gt_sem_seg.data)
        labels = torch.cat(maps).long()
        h, w = target_inputs.shape[2:]
        if tuple(labels.shape[1:]) != (h, w):
            raise ValueError(
                'CBST: pseudo-labels of shape '
                f'{tuple(labels.shape[1:])} do not match the target batch '
                f'{(h, w)}')
        return labels.to(target_inputs.device)
