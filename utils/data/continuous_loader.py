"""A ``DataLoader`` whose workers keep loading across epochs, for loaders that are iterated again and again."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import DataLoader, Sampler


class _EveryPass(Sampler):
    """Repeats a batch sampler forever. Before each pass it tells a sampler with ``set_epoch`` (DDP's
    ``DistributedSampler``) which pass this is, counting from the epoch it held when the stream started, since the
    next pass begins while the previous epoch is still being consumed."""

    def __init__(self, batch_sampler: Sampler) -> None:
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[list[int]]:
        sampler = getattr(self.batch_sampler, "sampler", None)
        epoch = getattr(sampler, "epoch", 0)
        while True:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            yield from self.batch_sampler
            epoch += 1


class ContinuousDataLoader(DataLoader):
    """Iterating it gives one epoch of batches, as a ``DataLoader`` does, but from one stream that its worker
    processes feed without a break: no worker start-up at each epoch, and the next epoch's first batches are
    prefetched while the model validates. ``close()`` stops the workers.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._repeating = _EveryPass(self.batch_sampler)
        self._stream: Iterator | None = None

    def __len__(self) -> int:
        return len(self._repeating)

    def __iter__(self) -> Iterator:
        if self._stream is None:
            self._stream = self._stream_iterator()
        for _ in range(len(self)):
            yield next(self._stream)

    def _stream_iterator(self) -> Iterator:
        """DataLoader's own multi-process iterator, built over the repeating batch sampler."""
        original = self.batch_sampler
        object.__setattr__(self, "batch_sampler", self._repeating)  # DataLoader forbids setting it after init
        try:
            return super().__iter__()
        finally:
            object.__setattr__(self, "batch_sampler", original)

    def close(self) -> None:
        """Shut the worker processes down (they would otherwise live as long as this loader)."""
        self._stream = None
