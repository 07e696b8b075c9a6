"""Box format conversions, clipping, rescaling and IoU, for numpy arrays and torch tensors alike.

Formats, named in every function name:

- ``xyxy``: corners ``(x1, y1, x2, y2)`` in pixels.
- ``xywh``: centre and size ``(x_center, y_center, width, height)`` in pixels.
- ``xywhn``: ``xywh`` divided by the image width and height, so 0..1 (YOLO label files).

All functions take ``(..., 4)`` boxes, return a new array/tensor of the same type and never modify their input.
torch is not imported here: the torch-free detect path (:mod:`utils.deploy`) uses these functions on numpy arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

Boxes = TypeVar("Boxes", np.ndarray, "torch.Tensor")


def _is_tensor(value: object) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch (a tensor means torch is loaded already)."""
    return type(value).__module__.partition(".")[0] == "torch"


def _copy(boxes: Boxes) -> Boxes:
    """Return a float copy so conversions never write into (or truncate to) the caller's integer data."""
    if _is_tensor(boxes):
        return boxes.clone() if boxes.is_floating_point() else boxes.float()
    return boxes.astype(np.float32) if not np.issubdtype(boxes.dtype, np.floating) else boxes.copy()


def xywh_to_xyxy(boxes: Boxes) -> Boxes:
    """Centre/size to corners, same units."""
    out = _copy(boxes)
    out[..., 0] = boxes[..., 0] - boxes[..., 2] / 2
    out[..., 1] = boxes[..., 1] - boxes[..., 3] / 2
    out[..., 2] = boxes[..., 0] + boxes[..., 2] / 2
    out[..., 3] = boxes[..., 1] + boxes[..., 3] / 2
    return out


def xyxy_to_xywh(boxes: Boxes) -> Boxes:
    """Corners to centre/size, same units."""
    out = _copy(boxes)
    out[..., 0] = (boxes[..., 0] + boxes[..., 2]) / 2
    out[..., 1] = (boxes[..., 1] + boxes[..., 3]) / 2
    out[..., 2] = boxes[..., 2] - boxes[..., 0]
    out[..., 3] = boxes[..., 3] - boxes[..., 1]
    return out


def xywhn_to_xyxy(boxes: Boxes, width: float, height: float, padw: float = 0.0, padh: float = 0.0) -> Boxes:
    """Normalised centre/size to pixel corners in a ``width`` x ``height`` image placed at offset ``(padw, padh)``."""
    out = _copy(boxes)
    out[..., 0] = width * (boxes[..., 0] - boxes[..., 2] / 2) + padw
    out[..., 1] = height * (boxes[..., 1] - boxes[..., 3] / 2) + padh
    out[..., 2] = width * (boxes[..., 0] + boxes[..., 2] / 2) + padw
    out[..., 3] = height * (boxes[..., 1] + boxes[..., 3] / 2) + padh
    return out


def xyxy_to_xywhn(boxes: Boxes, width: float, height: float, clip: bool = False) -> Boxes:
    """Pixel corners to normalised centre/size; ``clip`` first clips the corners to the image."""
    if clip:
        boxes = clip_boxes(boxes, (height, width))
    out = xyxy_to_xywh(boxes)
    out[..., 0::2] = out[..., 0::2] / width
    out[..., 1::2] = out[..., 1::2] / height
    return out


def clip_boxes(boxes: Boxes, shape: tuple[int, int]) -> Boxes:
    """Clip ``xyxy`` pixel boxes to an image of ``shape = (height, width)``."""
    height, width = shape[:2]
    out = _copy(boxes)
    if _is_tensor(out):
        out[..., 0::2] = out[..., 0::2].clamp(0, width)
        out[..., 1::2] = out[..., 1::2].clamp(0, height)
    else:
        out[..., 0::2] = out[..., 0::2].clip(0, width)
        out[..., 1::2] = out[..., 1::2].clip(0, height)
    return out


def scale_boxes(
    boxes: Boxes,
    from_shape: tuple[int, int],
    to_shape: tuple[int, int],
    ratio_pad: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Boxes:
    """Map ``xyxy`` boxes from a letterboxed image of ``from_shape`` (h, w) back to the original ``to_shape`` (h, w).

    ``ratio_pad = ((ratio_h, ratio_w), (padw, padh))`` as produced by the dataset's ``shapes``; when omitted it is
    recomputed assuming a centred letterbox. The result is clipped to ``to_shape``.
    """
    if ratio_pad is None:
        gain = min(from_shape[0] / to_shape[0], from_shape[1] / to_shape[1])
        pad = ((from_shape[1] - to_shape[1] * gain) / 2, (from_shape[0] - to_shape[0] * gain) / 2)
    else:
        gain, pad = ratio_pad[0][0], ratio_pad[1]
    out = _copy(boxes)
    out[..., 0::2] = (out[..., 0::2] - pad[0]) / gain
    out[..., 1::2] = (out[..., 1::2] - pad[1]) / gain
    return clip_boxes(out, to_shape)


def box_area(boxes: Boxes) -> Boxes:
    """Area of ``xyxy`` boxes, shape ``(...,)``."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: Boxes, boxes2: Boxes, eps: float = 1e-7) -> Boxes:
    """Pairwise IoU of ``xyxy`` boxes: ``(N, 4)`` and ``(M, 4)`` give ``(N, M)``."""
    lt_x = _maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    lt_y = _maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    rb_x = _minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    rb_y = _minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    inter = (rb_x - lt_x).clip(0) * (rb_y - lt_y).clip(0)
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return inter / (union + eps)


def _maximum(a: Boxes, b: Boxes) -> Boxes:
    return a.maximum(b) if _is_tensor(a) else np.maximum(a, b)


def _minimum(a: Boxes, b: Boxes) -> Boxes:
    return a.minimum(b) if _is_tensor(a) else np.minimum(a, b)
