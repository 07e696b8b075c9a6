"""ContinuousDataLoader: every epoch is one full, reshuffled pass; DDP passes are numbered; close() stops workers."""

from __future__ import annotations

import torch
from torch.utils.data import DistributedSampler, TensorDataset

from utils.data.continuous_loader import ContinuousDataLoader

DATA = TensorDataset(torch.arange(10))


def test_each_epoch_is_one_full_pass_with_workers_kept() -> None:
    loader = ContinuousDataLoader(DATA, batch_size=4, shuffle=True, num_workers=2,
                                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert len(loader) == 3
    orders = []
    for _ in range(3):
        order = [int(v) for (batch,) in loader for v in batch]
        assert sorted(order) == list(range(10))  # no sample lost or repeated across the epoch boundary
        orders.append(order)
    stream = loader._stream
    assert [int(v) for (batch,) in loader for v in batch] and loader._stream is stream  # one stream, same workers
    assert len({tuple(o) for o in orders}) > 1  # reshuffled between epochs
    loader.close()
    assert loader._stream is None


def test_distributed_sampler_passes_are_numbered_from_the_start_epoch() -> None:
    sampler = DistributedSampler(DATA, num_replicas=2, rank=0, shuffle=True, seed=3)
    sampler.set_epoch(5)  # what the trainer does before the first epoch of a resumed run
    loader = ContinuousDataLoader(DATA, batch_size=2, sampler=sampler, num_workers=0)
    got = [[int(v) for (batch,) in loader for v in batch] for _ in range(3)]
    expected = []
    for epoch in (5, 6, 7):
        reference = DistributedSampler(DATA, num_replicas=2, rank=0, shuffle=True, seed=3)
        reference.set_epoch(epoch)
        expected.append([int(DATA[i][0]) for i in reference])
    assert got == expected
