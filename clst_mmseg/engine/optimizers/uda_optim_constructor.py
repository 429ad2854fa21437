"""Optimizer wrappers for UDA models with extra trainable parts (e.g. the
discriminators of adversarial methods)."""
import copy
from typing import Dict, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict

from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS


def _unwrap(module):
    """A submodule without the DDP wrapper that
    ``MMSeparateDistributedDataParallel`` puts around it in place."""
    return module.module if is_model_wrapper(module) else module


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class UDAOptimWrapperConstructor:
    """Builds an :class:`OptimWrapperDict`: ``'segmentor'`` from the
    top-level optimizer config (the shared schedule's, unchanged) for
    ``model.segmentor``, plus one wrapper per extra key naming a submodule.

    A task config keeps the schedule's ``optim_wrapper`` and adds to it::

        optim_wrapper = dict(
            constructor='UDAOptimWrapperConstructor',
            discriminators=dict(type='OptimWrapper',
                                optimizer=dict(type='Adam', lr=1e-4)))

    Every top-level key whose value is a dict with an ``optimizer`` is such
    an extra wrapper config (it may have its own ``paramwise_cfg``); the
    others (``type``, ``optimizer``, ``clip_grad``, ``paramwise_cfg``, ...)
    configure the segmentor's wrapper. An extra wrapper whose submodule has
    no trainable parameters is left out (e.g. ADVENT's MinEnt variant builds
    no discriminator). A list ``param_scheduler`` is then built once per
    wrapper by mmengine (each wrapper gets its own scheduler state); a dict
    keyed by wrapper name gives each its own schedule.

    Under ``MMSeparateDistributedDataParallel`` the submodules are wrapped
    in place; each wrapper is built for the submodule inside, so parameter
    names (``paramwise_cfg.custom_keys``) are the same with and without DDP.

    Args:
        optim_wrapper_cfg (dict): The ``optim_wrapper`` config without
            ``constructor`` and the top-level ``paramwise_cfg``.
        paramwise_cfg (dict, optional): ``paramwise_cfg`` of the segmentor's
            wrapper.
    """

    main_name = 'segmentor'

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        cfg = copy.deepcopy(dict(optim_wrapper_cfg))
        self.extra: Dict[str, DefaultOptimWrapperConstructor] = {}
        for name in list(cfg):
            value = cfg[name]
            if isinstance(value, dict) and 'optimizer' in value:
                if name == self.main_name:
                    raise ValueError(
                        f'optim_wrapper.{name}: the segmentor uses the '
                        'top-level optimizer; name the extra wrappers after '
                        'other submodules')
                sub = dict(cfg.pop(name))
                self.extra[name] = DefaultOptimWrapperConstructor(
                    sub, sub.pop('paramwise_cfg', None))
        if 'optimizer' not in cfg:
            raise ValueError('optim_wrapper.optimizer: expected the '
                             "segmentor's optimizer config (the shared "
                             "schedule's) at the top level")
        self.main = DefaultOptimWrapperConstructor(cfg, paramwise_cfg)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        if hasattr(model, 'module'):
            model = model.module
        segmentor = _unwrap(getattr(model, self.main_name, None))
        if not isinstance(segmentor, nn.Module):
            raise ValueError(f'UDAOptimWrapperConstructor: the model has no '
                             f'{self.main_name!r} submodule (expected a '
                             'UDASegmentor)')
        wrappers = {self.main_name: self.main(segmentor)}
        covered = {id(p) for p in segmentor.parameters()}
        for name, constructor in self.extra.items():
            module = _unwrap(getattr(model, name, None))
            if not isinstance(module, nn.Module):
                raise ValueError(f'optim_wrapper.{name}: the model '
                                 f'({type(model).__name__}) has no submodule '
                                 f'{name!r}')
            if not any(p.requires_grad for p in module.parameters()):
                print_log(f'optim_wrapper.{name}: {name} has no trainable '
                          'parameters; no optimizer built for it',
                          logger='current')
                continue
            wrappers[name] = constructor(module)
            covered |= {id(p) for p in module.parameters()}
        missing = [
            n for n, p in model.named_parameters()
            if p.requires_grad and id(p) not in covered
        ]
        if missing:
            raise ValueError('optim_wrapper: no optimizer for the trainable '
                             f'parameters {missing[:5]} (add a wrapper keyed '
                             'by their submodule)')
        return OptimWrapperDict(**wrappers)
