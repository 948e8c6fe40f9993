"""A shuffling sampler whose order is a pure function of ``(seed, epoch)``.

``torch.utils.data.RandomSampler`` draws its permutation from the global RNG when the iterator starts, so a run
resumed from a checkpoint sees a different data order than the uninterrupted run. This sampler reseeds from
``(seed, epoch)`` instead; Lightning calls :meth:`set_epoch` at the start of every epoch (and under DDP wraps it
in a distributed sampler that splits the same order across ranks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Sampler


class EpochRandomSampler(Sampler[Any]):
    """Shuffle ``range(len(data))`` with ``torch.Generator().manual_seed(seed * 100003 + epoch)``.

    Args:
        data: the dataset (only its length is used).
        seed: base seed.
        with_epoch: yield ``(epoch, index)`` pairs instead of indices. The loader's workers get their items
            from the sampler, which lives in the main process, so the epoch reaches persistent workers too
            (their dataset copies never see ``set_epoch``); :class:`~querytrack.data.datasets.PairDataset`
            accepts both forms.
    """

    def __init__(self, data: Sized, seed: int = 0, with_epoch: bool = False) -> None:
        self.data = data
        self.seed = seed
        self.with_epoch = with_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Any]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(len(self.data), generator=g).tolist()
        if self.with_epoch:
            return iter([(self.epoch, i) for i in order])
        return iter(order)
