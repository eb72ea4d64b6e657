"""The training order: a function of (seed, epoch) only, resumable mid-epoch.

The GLOBAL batch (all ranks together) is the same whatever the number of
ranks: epoch ``e``'s permutation comes from a generator seeded by
``(seed, e)``, cut into global batches, and rank ``r`` takes its slice of each.
Every sample also carries its own augmentation seed, derived from
``(seed, epoch, position)``, so the data a step sees does not depend on the
world size, the number of loader workers or whether the job was restarted.
That is what makes a 2-rank run match a 1-rank run and a resumed run match an
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_MIX = 1_000_003  # any large odd constant: keeps (seed, epoch) streams apart


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """The augmentation seed of the sample at ``position`` of epoch ``epoch``."""
    return (seed * _MIX * _MIX + epoch * _MIX + position) % (2**63 - 1)


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields this rank's part of every global batch as ``[(index, aug_seed), ...]``.

    The last incomplete global batch is dropped (as ``drop_last=True``) so every
    step has the full batch the recipe names.

    Example:
        >>> s = ResumableBatchSampler(10, global_batch=4, rank=0, world_size=2, seed=0)
        >>> len(s), [len(b) for b in s]
        (2, [2, 2])
    """

    def __init__(self, length: int, global_batch: int, rank: int, world_size: int, seed: int) -> None:
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by {world_size} ranks")
        self.length = length
        self.global_batch = global_batch
        self.per_rank = global_batch // world_size
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch, and skip its first ``start_batch`` batches (resuming mid-epoch)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return self.length // self.global_batch - self.start_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        generator = torch.Generator().manual_seed(self.seed * _MIX + self.epoch)
        order = torch.randperm(self.length, generator=generator).tolist()
        for b in range(self.start_batch, self.length // self.global_batch):
            first = b * self.global_batch + self.rank * self.per_rank
            yield [(order[p], sample_seed(self.seed, self.epoch, p)) for p in range(first, first + self.per_rank)]


def shard_indices(length: int, rank: int, world_size: int) -> list[int]:
    """Evaluation sharding: every sample exactly once over all ranks (no padding, so sums are exact)."""
    return list(range(rank, length, world_size))
