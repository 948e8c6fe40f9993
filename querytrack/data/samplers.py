"""A shuffling sampler whose order is a pure function of ``(seed, epoch)``.

``torch.utils.data.RandomSampler`` draws its permutation from the global RNG when the iterator starts, so a run
resumed from a checkpoint sees a different data order than the uninterrupted run. This sampler reseeds from
``(seed, epoch)`` instead; Lightning calls :meth:`set_epoch` at the start of every epoch (and under DDP wraps it
in a distributed sampler that splits the same order across ranks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler


class EpochRandomSampler(Sampler[int]):
    """Shuffle ``range(len(data))`` with ``torch.Generator().manual_seed(seed * 100003 + epoch)``."""

    def __init__(self, data: Sized, seed: int = 0) -> None:
        self.data = data
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(len(self.data), generator=g).tolist())
