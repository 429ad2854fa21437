"""A pretrained-weights initializer that degrades to random initialisation
when the checkpoint cannot be obtained (e.g. on a machine without network)."""
import logging
from typing import Optional

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS

from clst_mmseg.compat import CheckpointError

# What obtaining a checkpoint raises when it is unavailable: urllib's URLError
# is an OSError (no network, DNS failure), FileNotFoundError is one too
# (missing local file), torch.hub raises RuntimeError (e.g. a hash mismatch of
# an interrupted download). A file that was obtained but does not load
# (CheckpointError: refused by the safe loader, truncated, empty) and prefix
# mismatches are not caught: they stop the run.
UNAVAILABLE_ERRORS = (OSError, RuntimeError)


@WEIGHT_INITIALIZERS.register_module(name='PretrainedIfAvailable')
class PretrainedIfAvailable(PretrainedInit):
    """Like mmengine's ``Pretrained`` initializer, but a checkpoint that cannot
    be obtained only logs a warning and leaves the module as it is.

    Loading goes through mmengine's own checkpoint loaders (local files,
    ``http(s)://``, ``torchvision://``, ``open-mmlab://`` ...), i.e. with
    torch's ``weights_only=True`` unpickler once the project's compat layer
    is applied; a file that it refuses, or that is truncated, stops the run
    (:class:`~clst_mmseg.compat.CheckpointError`). Only obtaining the
    checkpoint is guarded; loading an obtained state dict into the module
    behaves exactly as ``Pretrained`` (non-strict).

    Note: mmengine's ``BaseModule.init_weights`` runs ``type='Pretrained'``
    after the children's own ``init_weights`` but treats any other type,
    including this one, like an ordinary initializer that runs before them.
    Use it on modules whose children do not re-initialise themselves (e.g.
    mmseg's ResNet when it is given this ``init_cfg``), or list it last in an
    ``init_cfg`` list after the fallback initializers.

    Args:
        checkpoint (str): The checkpoint to load.
        prefix (str, optional): Load only the sub-module with this prefix of
            the checkpoint. Defaults to None.
        map_location (str): Same as :func:`torch.load`. Defaults to 'cpu'.
        source (str, optional): Where the file comes from and how to make
            it (e.g. a download address and a conversion command); named
            when the file is missing. Defaults to None.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu',
                 source: Optional[str] = None) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.source = source

    def __call__(self, module) -> None:
        from mmengine.runner.checkpoint import (_load_checkpoint,
                                                _load_checkpoint_to_model,
                                                _load_checkpoint_with_prefix,
                                                load_state_dict)
        print_log(f'load {self.prefix or "model"} from: {self.checkpoint}',
                  logger='current')
        try:
            if self.prefix is None:
                checkpoint = _load_checkpoint(self.checkpoint,
                                              self.map_location,
                                              logger='current')
            else:
                state_dict = _load_checkpoint_with_prefix(
                    self.prefix, self.checkpoint, self.map_location)
        except CheckpointError:
            raise
        except UNAVAILABLE_ERRORS as e:
            self._warn_unavailable(module, e)
            return
        if self.prefix is None:
            if not isinstance(checkpoint, dict):
                raise RuntimeError(
                    f'No state_dict found in checkpoint file {self.checkpoint}'
                )
            _load_checkpoint_to_model(module,
                                      checkpoint,
                                      strict=False,
                                      logger='current')
        else:
            load_state_dict(module, state_dict, strict=False, logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _warn_unavailable(self, module,
                          error: Optional[BaseException]) -> None:
        """Log the one-line warning for a checkpoint that is unavailable."""
        reason = ' '.join(str(error).split())  # keep it on one line
        print_log(
            f'PretrainedIfAvailable: checkpoint {self.checkpoint} is not '
            f'available ({type(error).__name__}: {reason}); '
            f'{type(module).__name__} trains from random initialisation'
            + (f'; source: {self.source}' if self.source else ''),
            logger='current',
            level=logging.WARNING)
