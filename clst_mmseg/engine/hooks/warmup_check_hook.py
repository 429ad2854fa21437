"""Says at the start of training when each warmed-up term starts, and warns
when one would never start."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class WarmupCheckHook(Hook):
    """Logs the first iteration of every term of the model that waits for a
    warm-up (``model.warmups()``, e.g. self-training and CLST's contrastive
    term) and warns, one line per term, when that iteration is not below the
    run's ``max_iters``: such a term never trains (a schedule shortened with
    ``--cfg-options train_cfg.max_iters=...`` while a warm-up is given in
    iterations, or a warm-up ratio close to 1).

    In every config (``configs/_base_/default_runtime.py``'s
    ``custom_hooks``, restated where a config replaces that list). Models
    without ``warmups()`` are left alone.
    """

    priority = 'LOW'  # after RuntimeInfoHook has published max_iters

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'warmups'):
            return
        warmups = model.warmups()
        if not warmups:
            return
        name, max_iters = type(model).__name__, runner.max_iters
        runner.logger.info(f'{name}: ' + ', '.join(
            f'{term} from iteration {start}'
            for term, start in warmups.items()) + f' of {max_iters}')
        for term, start in warmups.items():
            if start >= max_iters:
                runner.logger.warning(
                    f'{name}: {term} starts at iteration {start} >= '
                    f'max_iters {max_iters}, so it never trains; shorten its '
                    'warm-up (e.g. model.warmup_ratio) or lengthen the '
                    'schedule')
