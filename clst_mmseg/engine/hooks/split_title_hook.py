"""Titles every printed evaluation table with the split it scores."""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def split_title(name: str, loader_key: str, dataset) -> str:
    """``'<name> (<loader_key>, <n> images)'``, e.g. ``'target val
    (val_dataloader, 200 images)'``."""
    try:
        size = f', {len(dataset)} images'
    except TypeError:
        size = ''
    return f'{name} ({loader_key}{size})'


def set_split_title(metrics, title: str) -> None:
    """Give each metric in ``metrics`` that prints tables the title
    ``title``."""
    for metric in metrics:
        if hasattr(metric, 'split'):
            metric.split = title


@HOOKS.register_module()
class SplitTitleHook(Hook):
    """Names the split in the title of the tables each validation and test
    prints (:class:`~clst_mmseg.evaluation.SubsetIoUMetric`): the
    validation scores the target's val split (``val_dataloader``, every
    task here), a test the ``test_dataloader``. The trajectory hook titles
    its source-val slice itself.

    Our tools add it to every runner they build
    (:func:`clst_mmseg.apis.runner_hooks.register_tool_hooks`).

    Args:
        val_name (str): What the validation scores. Defaults to
            ``'target val'``.
        test_name (str): What a test scores. Defaults to ``'test'``.
    """

    priority = 'VERY_LOW'

    def __init__(self, val_name: str = 'target val',
                 test_name: str = 'test') -> None:
        self.val_name = val_name
        self.test_name = test_name

    @staticmethod
    def _title(loop, name: str, loader_key: str) -> None:
        if loop is not None and hasattr(loop, 'evaluator'):
            set_split_title(
                loop.evaluator.metrics,
                split_title(name, loader_key, loop.dataloader.dataset))

    def before_val(self, runner) -> None:
        self._title(runner.val_loop, self.val_name, 'val_dataloader')

    def before_test(self, runner) -> None:
        self._title(runner.test_loop, self.test_name, 'test_dataloader')
