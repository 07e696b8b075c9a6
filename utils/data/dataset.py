"""``YoloDataset``: :class:`~utils.data.samples.YoloSamples` as a torch ``Dataset``, samples as tensors.

One sample is ``(image, targets, path, shapes)``: ``image`` a ``uint8 (3, H, W)`` RGB tensor, ``targets`` a
``float32 (n, 6)`` tensor ``[image_index, class, x, y, w, h]`` (boxes ``xywhn``); see the samples module for the rest.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from utils.data.samples import YoloSamples, collate_arrays


class YoloDataset(YoloSamples, Dataset):
    """The split's samples for torch's ``DataLoader``; ``collate`` is its ``collate_fn``."""

    def _sample(self, index: int):
        image, targets, path, shapes = super()._sample(index)
        return torch.from_numpy(image), torch.from_numpy(targets), path, shapes

    @staticmethod
    def collate(batch: list) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...], tuple]:
        """:func:`~utils.data.samples.collate_arrays` for tensors."""
        return collate_arrays(batch, torch.stack, torch.cat)
