"""Training samples: the resumable epoch sampler and per-item seeding.

Exact resume needs the data of every step to be a function of (run seed, epoch, position in the epoch) only.
:class:`EpochSampler` draws each epoch's order from that and hands every item its own seed;
:class:`SeededItems` applies that seed around the dataset's ``__getitem__`` so worker scheduling and restarts
never change what an item contains.
"""

from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class EpochSampler(Sampler):
    """Yields ``(index, item_seed)`` pairs: a reproducible order per epoch, resumable mid-epoch, shardable.

    Args:
        length: Dataset length.
        base_seed: Run seed.
        epoch: Epoch number (changes the order).
        shuffle: Random order (else 0..length-1).
        start: Items of this epoch already consumed (skipped).
        rank: This process's rank; items are dealt round-robin to ``world_size`` processes.
        world_size: Number of processes. As ``DistributedSampler`` does, the order is padded with its first
            items to a multiple of ``world_size``, so every process runs the same number of steps.
    """

    def __init__(self, length: int, *, base_seed: int, epoch: int, shuffle: bool = True, start: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.length, self.base_seed, self.epoch = length, base_seed, epoch
        self.shuffle, self.start, self.rank, self.world_size = shuffle, start, rank, world_size

    def _order(self) -> tuple[list[int], list[int]]:
        generator = torch.Generator().manual_seed(self.base_seed * 100003 + self.epoch)
        order = torch.randperm(self.length, generator=generator).tolist() if self.shuffle else list(range(self.length))
        seeds = torch.randint(0, 2**62, (self.length,), generator=generator).tolist()
        return order, seeds

    @property
    def per_rank(self) -> int:
        """Items each process gets in a whole epoch."""
        return math.ceil(self.length / self.world_size) if self.length else 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order, seeds = self._order()
        padded = self.per_rank * self.world_size
        positions = [p % self.length for p in range(padded)][self.rank::self.world_size]
        for step, position in enumerate(positions):
            if step >= self.start:
                yield order[position], seeds[position]

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)


class SeededItems(Dataset):
    """Wraps a dataset so that item ``(index, seed)`` is drawn with every RNG seeded by ``seed``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            random.seed(seed)
            np.random.seed(seed % 2**32)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
