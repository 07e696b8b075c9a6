"""Build the train/val ``DataLoader`` around :class:`utils.data.dataset.YoloDataset`, reproducible from ``seed``."""

from __future__ import annotations

import logging
import os
import random
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from utils.data.continuous_loader import ContinuousDataLoader
from utils.data.dataset import YoloDataset
from utils.data.dataset_files import SplitSource
from utils.data.options import LoaderOptions

LOGGER = logging.getLogger(__name__)


def seed_worker(worker_id: int) -> None:
    """Give each worker its own augmentation stream derived from the loader's seeded generator.

    PyTorch seeds torch per worker from the loader's ``generator``; numpy and ``random`` are derived from that, and
    the worker's copy of the dataset gets a fresh ``rng`` (otherwise all workers would draw the same numbers).
    Don't call ``cv2.setNumThreads`` here: after a fork it can deadlock on the parent's OpenCV thread pool.
    """
    torch.set_num_threads(1)  # workers augment with OpenCV/numpy; torch threads would only oversubscribe the cores
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None and hasattr(info.dataset, "rng"):
        info.dataset.rng = np.random.default_rng(seed)


def create_dataloader(path: SplitSource, options: LoaderOptions) -> tuple[DataLoader, YoloDataset]:
    """Loader and dataset for one split, loaded as ``options`` says. Each batch is ``(images, targets, paths, shapes)``:

    - ``images``: ``uint8 (B, 3, H, W)`` RGB (divide by 255 on the device).
    - ``targets``: ``float32 (N, 6)`` ``[image_index, class, x, y, w, h]``, boxes normalised ``xywhn``.
    - ``paths``: tuple of B image paths; ``shapes``: tuple of B ``((h0, w0), ((h/h0, w/w0), (padw, padh)))``
      (None for mosaic images).

    ``rank >= 0`` (DDP) uses a ``DistributedSampler`` seeded with ``seed``; call ``loader.sampler.set_epoch(epoch)``
    each epoch. Shuffling is turned off with ``rect`` (batches are built from aspect-sorted images).
    ``num_classes`` makes a class id >= nc in a label file an error. ``continuous`` (training) returns a
    :class:`ContinuousDataLoader`, whose workers run from one epoch into the next; call its ``close()`` at the end.
    """
    if options.rect and options.shuffle:
        LOGGER.warning("%sWARNING rect=True is incompatible with shuffle, setting shuffle=False", options.prefix)
        options = replace(options, shuffle=False)
    dataset = YoloDataset(path, options)
    batch_size = min(options.batch_size, len(dataset))
    rank = options.rank
    world_size = torch.distributed.get_world_size() if rank >= 0 and torch.distributed.is_initialized() else 1
    num_workers = min(os.cpu_count() // max(world_size, 1), batch_size if batch_size > 1 else 0, options.workers)
    sampler = DistributedSampler(dataset, shuffle=options.shuffle, seed=options.seed) if rank >= 0 else None
    generator = torch.Generator()
    generator.manual_seed(options.rank_seed)  # different augmentations on each DDP rank
    loader = (ContinuousDataLoader if options.continuous else DataLoader)(
        dataset,
        batch_size=batch_size,
        shuffle=options.shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        collate_fn=YoloDataset.collate,
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=False,
    )
    return loader, dataset
