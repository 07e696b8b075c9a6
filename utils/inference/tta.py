"""Test-time augmentation: run the model on rescaled and flipped copies of a batch and merge the predictions.

As YOLOv5: scales 1, 0.83 and 0.67, the middle one flipped left-right. Each copy is padded up to a multiple of the
model's largest stride, its boxes are mapped back to the input image, and all are concatenated for one NMS. The
full-size copy drops its coarsest level (large objects are seen better at the smaller scales) and the smallest
copy drops its finest level (small objects are seen better at full size).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (1.0, 0.83, 0.67)
FLIP_LR = (False, True, False)
PAD_VALUE = 0.447  # grey, the ImageNet mean, as YOLOv5 pads TTA images


def scale_image(images: torch.Tensor, ratio: float, stride: int) -> tuple[torch.Tensor, tuple[float, float]]:
    """Resize (B, C, H, W) images by ``ratio`` and pad right and bottom to a multiple of ``stride``.

    Returns the images and the exact ``(ratio_w, ratio_h)`` applied (sizes are rounded to whole pixels).
    """
    height, width = images.shape[2:]
    new_h, new_w = max(1, round(height * ratio)), max(1, round(width * ratio))
    if (new_h, new_w) != (height, width):
        images = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False)
    pad_h, pad_w = math.ceil(new_h / stride) * stride - new_h, math.ceil(new_w / stride) * stride - new_w
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h), value=PAD_VALUE)
    return images, (new_w / width, new_h / height)


def augmented_forward(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Eval-mode predictions of ``model`` over the three augmented copies of ``images`` (B, 3, H, W, 0..1).

    Returns (B, N, 5 + nc) like the model's decoded output: ``xywh`` in pixels of ``images``, objectness and class
    probabilities, ready for :func:`utils.nms.non_max_suppression`.
    """
    stride = int(max(model.stride))
    width = images.shape[3]
    outputs = []
    for index, (ratio, flip) in enumerate(zip(SCALES, FLIP_LR)):
        copy, (ratio_w, ratio_h) = scale_image(images.flip(3) if flip else images, ratio, stride)
        decoded, raw = model(copy)
        decoded = decoded.clone()
        decoded[..., [0, 2]] /= ratio_w
        decoded[..., [1, 3]] /= ratio_h
        if flip:
            decoded[..., 0] = width - decoded[..., 0]
        outputs.append(_drop_level(decoded, raw, first=index == 0, last=index == len(SCALES) - 1))
    return torch.cat(outputs, 1)


def _drop_level(decoded: torch.Tensor, raw: list[torch.Tensor], first: bool, last: bool) -> torch.Tensor:
    """Drop the coarsest level's predictions from the full-size copy and the finest level's from the smallest.

    ``decoded`` rows are ordered level by level as in ``raw`` (one (B, na, ny, nx, no) tensor per level).
    """
    if len(raw) < 2:
        return decoded
    if first:
        return decoded[:, : decoded.shape[1] - raw[-1][0, ..., 0].numel()]
    if last:
        return decoded[:, raw[0][0, ..., 0].numel() :]
    return decoded
