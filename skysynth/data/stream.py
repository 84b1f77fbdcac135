"""Deterministic iterable streams over WebDataset shards.

Every random choice (which shard next, shuffle buffer, augmentations) is drawn from generators
seeded by (seed, epoch, rank, worker), so a run and its resumed copy see the same samples.
"""

from __future__ import annotations

import hashlib
import random

import torch
import webdataset as wds


def mix_seed(*parts) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def iterate_shard(url: str):
    """Raw samples ({"__key__", "jpg", "json", ...}) of one tar shard."""
    yield from wds.tariterators.tarfile_samples([{"url": url}])


class ShardStream(torch.utils.data.IterableDataset):
    """Training: shards drawn with replacement, shuffled through a buffer, `samples_per_worker`
    samples per epoch. Validation (`train=False`): each shard once, split between workers."""

    def __init__(
        self,
        urls,
        keep,
        decode,
        transform,
        train: bool,
        seed: int = 0,
        rank: int = 0,
        samples_per_worker: int = 1000,
        shuffle_buffer: int = 1000,
    ):
        super().__init__()
        self.urls, self.keep, self.decode, self.transform = list(urls), keep, decode, transform
        self.train, self.seed, self.rank = train, seed, rank
        self.samples_per_worker, self.shuffle_buffer = samples_per_worker, shuffle_buffer
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _worker(self) -> tuple[int, int]:
        info = torch.utils.data.get_worker_info()
        return (info.id, info.num_workers) if info else (0, 1)

    def _raw_train(self, rng: random.Random):
        # Shards are drawn with replacement; a run of draws that yields nothing means no sample
        # qualifies (DataModule.setup checks first), and must end with an error, not a spin.
        empty_draws = 0
        while empty_draws < max(20, 4 * len(self.urls)):
            empty_draws += 1
            for sample in iterate_shard(rng.choice(self.urls)):
                if self.keep(sample["__key__"]):
                    empty_draws = 0
                    yield sample
        raise RuntimeError(f"no training sample in {empty_draws} draws from {len(self.urls)} shards")

    def _shuffled(self, samples, rng: random.Random):
        buffer = []
        for sample in samples:
            buffer.append(sample)
            if len(buffer) >= self.shuffle_buffer:
                index = rng.randrange(len(buffer))
                buffer[index], buffer[-1] = buffer[-1], buffer[index]
                yield buffer.pop()
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self):
        worker, workers = self._worker()
        if not self.train:
            for url in self.urls[worker::workers]:
                for sample in iterate_shard(url):
                    if self.keep(sample["__key__"]):
                        yield self.transform(self.decode(sample), None)
            return
        seed = mix_seed(self.seed, self.epoch, self.rank, worker)
        rng = random.Random(seed)
        generator = torch.Generator().manual_seed(seed)
        for count, sample in enumerate(self._shuffled(self._raw_train(rng), rng)):
            if count >= self.samples_per_worker:
                return
            yield self.transform(self.decode(sample), generator)
