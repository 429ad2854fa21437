"""A data loader over a fixed, deterministic set of images that is read
once per process and then replayed from memory.

Evaluations that run many times over the same small set (the checkpoint
trajectory scores a few hundred images at every point of a run) would
otherwise read, decode, transform and collate every image again each
time. :class:`CachedBatches` keeps the collated batches of its first
complete pass and hands out those same batch objects afterwards, so every
later pass sees exactly the data a fresh pass would produce -- provided
the pipeline is deterministic (no random transform) and the consumers do
not change the batches in place (mmseg's data preprocessors copy what
they change). The wrapped loader must draw from a generator of its own
(``DataLoader(generator=...)``): a loader without one draws its base seed
from torch's global generator at every pass, and skipping those passes
would change the random stream of the training.
"""
from typing import Any, Iterator, List, Optional

import numpy as np
import torch
from mmengine.structures import BaseDataElement
from torch.utils.data import DataLoader


def batch_nbytes(obj: Any) -> int:
    """Bytes held by the tensors and arrays of a batch (dicts, lists and
    data elements are walked; meta information is not counted)."""
    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, BaseDataElement):
        return sum(batch_nbytes(v) for v in obj.values())
    if isinstance(obj, dict):
        return sum(batch_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(batch_nbytes(v) for v in obj)
    return 0


class CachedBatches:
    """Iterable over the batches of ``loader``; the first complete pass
    is kept in memory (if it fits ``max_mb``) and replayed by every later
    pass.

    A pass that is abandoned part-way keeps nothing; a set larger than
    ``max_mb`` is read from the loader every time, as without the cache.

    Args:
        loader (Iterable): A data loader that yields the same batches on
            every pass (no shuffling, no random transform) and draws from a
            generator of its own.
        max_mb (float): Memory budget in MiB for the kept batches.
            0 keeps nothing. Defaults to 512.
    """

    def __init__(self, loader, max_mb: float = 512) -> None:
        if not max_mb >= 0:
            raise ValueError(f'CachedBatches: max_mb must be >= 0, got '
                             f'{max_mb!r}')
        if isinstance(loader, DataLoader) and loader.generator is None:
            raise ValueError('CachedBatches: the DataLoader needs a generator '
                             'of its own (generator=torch.Generator()); '
                             "without one each pass draws from torch's "
                             'global generator')
        self.loader = loader
        self.max_bytes = int(max_mb * 2**20)
        self.nbytes = 0
        self._batches: Optional[List[Any]] = None
        #: whether the set was found to exceed the budget (read each time)
        self.too_large = False

    @property
    def dataset(self):
        """The wrapped loader's dataset."""
        return self.loader.dataset

    @property
    def cached(self) -> bool:
        """Whether the batches are in memory."""
        return self._batches is not None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        if self._batches is not None:
            return iter(self._batches)
        return self._read()

    def _read(self) -> Iterator[Any]:
        keep = not self.too_large and self.max_bytes > 0
        batches, nbytes = [], 0
        for batch in self.loader:
            if keep:
                nbytes += batch_nbytes(batch)
                if nbytes > self.max_bytes:
                    keep, batches, self.too_large = False, [], True
                else:
                    batches.append(batch)
            yield batch
        if keep:
            self._batches, self.nbytes = batches, nbytes
