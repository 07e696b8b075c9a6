"""A grid of a batch's images with their boxes (``train_batch0.jpg``, ``val_batch0_labels.jpg``, ``..._pred.jpg``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from utils.boxes import xywhn_to_xyxy
from utils.plots.annotate import class_color, draw_box

if TYPE_CHECKING:
    import torch

MAX_MOSAIC_SIDE = 1920  # pixels; larger grids are scaled down
MIN_CONFIDENCE = 0.25  # predictions below this are not drawn


def plot_images(
    images: torch.Tensor | np.ndarray,
    targets: torch.Tensor | np.ndarray,
    paths: list[str] | tuple[str, ...] | None = None,
    names: list[str] | None = None,
    save_path: str | Path = "images.jpg",
    max_images: int = 16,
) -> Path:
    """Save up to ``max_images`` of a batch as one grid, with boxes and the file name on each tile.

    Args:
        images: (B, 3, H, W) RGB, ``uint8`` or float in 0..1.
        targets: (N, 6) ``[image_index, class, x, y, w, h]`` with boxes ``xywhn`` (normalised to H, W), as the
            dataloader gives them; or (N, 7) with a confidence last, for predictions (drawn when >= 0.25,
            labelled with the confidence).
        paths: the B image paths (file names are written on the tiles).
        names: class names for the labels (class indices when None).
    """
    images, targets = _as_array(images), _as_array(targets)
    if images.dtype != np.uint8:
        images = images * 255 if images.size and images.max() <= 1 else images
        images = images.clip(0, 255).astype(np.uint8)
    count, (height, width) = min(len(images), max_images), images.shape[2:]
    columns = math.ceil(math.sqrt(count)) if count else 1
    rows = math.ceil(count / columns) if count else 1
    scale = min(1.0, MAX_MOSAIC_SIDE / max(rows * height, columns * width))
    tile_h, tile_w = math.ceil(height * scale), math.ceil(width * scale)
    mosaic = np.full((rows * tile_h, columns * tile_w, 3), 255, dtype=np.uint8)
    for i in range(count):
        tile = cv2.resize(images[i].transpose(1, 2, 0)[:, :, ::-1], (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        tile = np.ascontiguousarray(tile)
        _draw_targets(tile, targets[targets[:, 0] == i], names)
        if paths is not None:
            cv2.putText(
                tile, Path(paths[i]).name[:40], (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (220, 220, 220), 1, cv2.LINE_AA
            )
        cv2.rectangle(tile, (0, 0), (tile_w - 1, tile_h - 1), (255, 255, 255), 1)
        y, x = (i // columns) * tile_h, (i % columns) * tile_w
        mosaic[y : y + tile_h, x : x + tile_w] = tile
    save_path = Path(save_path)
    save_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(save_path), mosaic)
    return save_path


def _draw_targets(tile: np.ndarray, targets: np.ndarray, names: list[str] | None) -> None:
    """Draw one image's rows of ``plot_images``' ``targets`` on its BGR tile in place."""
    is_prediction = targets.shape[1] == 7
    if is_prediction:
        targets = targets[targets[:, 6] >= MIN_CONFIDENCE]
        targets = targets[np.argsort(targets[:, 6], kind="stable")]  # most confident drawn last, on top
    boxes = xywhn_to_xyxy(targets[:, 2:6], tile.shape[1], tile.shape[0])
    for row, box in zip(targets, boxes):
        cls = int(row[1])
        label = names[cls] if names is not None and cls < len(names) else str(cls)
        if is_prediction:
            label = f"{label} {row[6]:.2f}"
        draw_box(tile, box, label, class_color(cls), thickness=1)


def _as_array(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """A numpy copy of a tensor (any device, bfloat16 included), or the array itself; torch is not imported here
    so the torch-free val path can plot."""
    return values.detach().cpu().float().numpy() if hasattr(values, "detach") else np.asarray(values)
