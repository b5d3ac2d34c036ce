"""Which images make up each batch of an epoch, and the seeds of their augmentation.

The order of an epoch and the augmentation of each batch are drawn from generators seeded with
(seed, epoch) and (seed, epoch, batch index), for the GLOBAL batch; DDP rank r then takes slice r of
every global batch. Nothing depends on the rank, the world size or where iteration started, so
`batches(e, start=k)` yields exactly batches k.. of `batches(e)` (bitwise resume) and the ranks'
slices put together are the one-process batch (1 process == N processes).
"""

from __future__ import annotations

import numpy as np
import torch

from resreg.data.augment import AugmentDraw, AugmentOptions, draw
from resreg.errors import ConfigError


class BatchPlan:
    """Which images make up each global batch, which rows belong to this rank, and the batch seeds."""

    def __init__(
        self, n: int, batch_size: int, train: bool, drop_last: bool, seed: int, rank: int, world_size: int
    ) -> None:
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.rank, self.world_size = rank, world_size
        self.length = n // batch_size if drop_last else -(-n // batch_size)
        if self.length == 0:
            raise ConfigError(f"batch_size={batch_size} is larger than the {n} images of the split (drop_last is on)")

    @property
    def num_images(self) -> int:
        """Images per epoch, all ranks together."""
        return min(self.n, self.length * self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.train:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=self.generator(0, epoch))

    def batch(self, order: torch.Tensor, index: int) -> tuple[torch.Tensor, int, int]:
        """Global batch `index`'s image indices, and this rank's rows [lo, hi) of it."""
        indices = order[index * self.batch_size : (index + 1) * self.batch_size]
        n = len(indices)
        return indices, self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size

    def generator(self, *parts: int) -> torch.Generator:
        """A CPU generator seeded by hashing (seed, *parts): independent streams, same on every device."""
        entropy = [self.seed % 2**63, *(p % 2**63 for p in parts)]
        state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
        return torch.Generator().manual_seed(int(state))

    def draw(self, augment: AugmentOptions, epoch: int, index: int, n: int, *, crop: bool) -> AugmentDraw:
        return draw(augment, n, self.generator(1, epoch, index), crop=crop)
