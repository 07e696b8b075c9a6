"""The console lines of one training epoch, as YOLOv5 prints them: a header, then a bar with the running mean losses."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from tqdm import tqdm

LOGGER = logging.getLogger(__name__)
HEADER = ("Epoch", "GPU_mem", "box_loss", "obj_loss", "cls_loss", "Instances", "Size")


class EpochProgress:
    """Iterate ``loader`` as ``(index, batch)``; on the main process show a tqdm bar whose description holds the epoch,
    GPU memory, the mean (box, obj, cls) losses so far, and the last batch's instance count and image size.

    ``mean_losses`` is that running mean, (3,) float64; it stays zeros where ``enabled`` is False (other DDP ranks,
    which print nothing and need no ``.item()`` syncs)."""

    def __init__(self, loader: Iterable, epoch: int, epochs: int, device: torch.device, enabled: bool = True) -> None:
        self.loader, self.epoch, self.epochs, self.device, self.enabled = loader, epoch, epochs, device, enabled
        self.mean_losses = np.zeros(3)
        self.bar: tqdm | None = None
        self.count = 0

    def __iter__(self) -> Iterator:
        batches = enumerate(self.loader)
        if not self.enabled:
            return batches
        LOGGER.info("%11s" * len(HEADER), *HEADER)
        self.bar = tqdm(batches, total=len(self.loader), bar_format="{l_bar}{bar:10}{r_bar}")
        return iter(self.bar)

    def update(self, parts: dict[str, torch.Tensor], targets: torch.Tensor, images: torch.Tensor) -> None:
        """Fold one batch's loss parts into the running mean and refresh the bar."""
        if not self.enabled:
            return
        losses = np.array([parts["box"].item(), parts["obj"].item(), parts["cls"].item()])
        self.mean_losses = (self.mean_losses * self.count + losses) / (self.count + 1)
        self.count += 1
        memory = f"{torch.cuda.memory_reserved() / 1e9:.3g}G" if self.device.type == "cuda" else "0G"
        self.bar.set_description(
            f"{self.epoch:>5}/{self.epochs - 1:<4}{memory:>11}"
            + "".join(f"{v:11.4g}" for v in self.mean_losses)
            + f"{targets.shape[0]:11d}{images.shape[-1]:11d}"
        )
