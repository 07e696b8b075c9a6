"""Resize an image to fit a target size keeping its aspect ratio, padding the rest (the "letterbox")."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from utils.errors import UserError


def letterbox(
    img: np.ndarray,
    new_shape: int | tuple[int, int] = 640,
    color: tuple[int, int, int] = (114, 114, 114),
    auto: bool = True,
    scaleup: bool = True,
    stride: int = 32,
) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Fit ``img`` (HxWxC) inside ``new_shape`` (int or ``(h, w)``) and pad it with ``color``.

    ``auto=True`` pads only up to the next multiple of ``stride`` (smallest tensor the model accepts);
    ``auto=False`` pads to the full ``new_shape``. ``scaleup=False`` never enlarges (keeps val mAP honest).
    Returns ``(image, (ratio_w, ratio_h), (dw, dh))``: a pixel ``(x, y)`` of the input lands at
    ``(x * ratio_w + dw, y * ratio_h + dh)``; ``dw``/``dh`` are the left/top padding (half the total, may be .5).
    """
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    new_shape = (int(new_shape[0]), int(new_shape[1]))
    height, width = img.shape[:2]
    ratio = min(new_shape[0] / height, new_shape[1] / width)
    if not scaleup:
        ratio = min(ratio, 1.0)
    unpadded = (round(width * ratio), round(height * ratio))  # (w, h)
    dw, dh = new_shape[1] - unpadded[0], new_shape[0] - unpadded[1]
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = float(dw) / 2, float(dh) / 2
    if (width, height) != unpadded:
        img = cv2.resize(img, unpadded, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return img, (unpadded[0] / width, unpadded[1] / height), (dw, dh)


def height_width(imgsz: int | Sequence[int]) -> tuple[int, int]:
    """``--imgsz`` as ``(H, W)``: ``640`` or ``[640]`` -> (640, 640); ``[480, 640]`` -> (480, 640) (YOLOv5's forms).
    Anything else, or a size that is not positive, is a :class:`UserError`."""
    sizes = [int(imgsz)] if isinstance(imgsz, int) else [int(size) for size in imgsz]
    if len(sizes) not in (1, 2) or min(sizes) <= 0:
        raise UserError(f"--imgsz {' '.join(map(str, sizes))}: give one positive size, or a height and a width")
    height, width = sizes * 2 if len(sizes) == 1 else sizes
    return height, width


def stride_aligned(size: float, stride: int = 32) -> int:
    """Smallest multiple of ``stride`` that is >= ``size``."""
    return int(math.ceil(size / stride) * stride)
