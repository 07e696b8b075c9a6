"""``detect.py --visualize``: each stage's feature maps as a PNG grid, captured by forward hooks.

A stage is one top-level layer of the model before the Detect head, with two adjustments so that a C3 config and a
backbone-row config (``[-1, 1, Backbone, [efficientnet_b0]]``) both give one PNG per distinct feature map:

* a layer with several outputs (a ``Backbone`` row: [P3, P4, P5]) gives one stage per output, named by its level;
* an ``Index`` row gives none: it only picks one of those outputs, already saved.

So ``yolov5n.yaml`` gives 24 stages (rows 0..23) and ``yolov5s-efficientnet-b0.yaml`` gives 18 (P3, P4, P5 of row
0, then rows 4..18). Files, per image (``<stem>_<frame>`` for video frames)::

    <stem>/stage<i>_<module type>_features.png           e.g. stage4_C3_features.png
    <stem>/stage<i>_<module type>-P<k>_features.png      e.g. stage0_Backbone-P3_features.png

Each grid shows the first ``channels`` channels (32) in rows of 8, each min-max scaled on its own, in viridis. Only
the first forward pass per image is saved (``--augment`` runs three).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from models.backbones.layer import Index
from models.head import Detect

CHANNELS, COLUMNS = 32, 8
TILE_MIN, TILE_MAX, GAP = 48, 160, 2  # pixels: small maps are enlarged, large ones reduced, for a readable grid


def stage_names(model: nn.Module) -> dict[int, list[str]]:
    """``{layer index: [file name stem, ...]}`` of every stage of a ``DetectionModel`` (see the module docstring)."""
    names: dict[int, list[str]] = {}
    for index, layer in enumerate(model.model):
        if isinstance(layer, (Detect, Index)):
            continue
        kind = type(layer).__name__
        strides = getattr(layer, "strides", None)
        if isinstance(getattr(layer, "out_channels", None), list) and strides:
            names[index] = [f"stage{index}_{kind}-P{round(math.log2(s))}_features" for s in strides]
        else:
            names[index] = [f"stage{index}_{kind}_features"]
    return names


def feature_grid(features: torch.Tensor, channels: int = CHANNELS, columns: int = COLUMNS) -> np.ndarray:
    """A BGR uint8 image of the first ``channels`` maps of ``features`` (C, H, W), ``columns`` to a row."""
    maps = features[:channels].detach().float().cpu().numpy()
    low = maps.min(axis=(1, 2), keepdims=True)
    span = np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    maps = ((maps - low) / span * 255).astype(np.uint8)
    height, width = maps.shape[1:]
    scale = min(max(TILE_MIN / max(height, width), 1.0), TILE_MAX / max(height, width))
    tile_h, tile_w = max(round(height * scale), 1), max(round(width * scale), 1)
    interpolation = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    rows, cols = math.ceil(len(maps) / columns), min(len(maps), columns)
    grid = np.full((rows * (tile_h + GAP) - GAP, cols * (tile_w + GAP) - GAP, 3), 255, np.uint8)  # white gaps
    for k, channel in enumerate(maps):
        y, x = (k // columns) * (tile_h + GAP), (k % columns) * (tile_w + GAP)
        tile = cv2.resize(channel, (tile_w, tile_h), interpolation=interpolation)
        grid[y : y + tile_h, x : x + tile_w] = cv2.applyColorMap(tile, cv2.COLORMAP_VIRIDIS)
    return grid


class FeatureVisualizer:
    """Forward hooks on a ``DetectionModel``'s stages that write feature grids while :meth:`image` is active.

    The model's forward is untouched; call :meth:`remove` to take the hooks off."""

    def __init__(self, model: nn.Module, save_dir: Path, channels: int = CHANNELS) -> None:
        self.save_dir, self.channels = Path(save_dir), channels
        self._captured: dict[str, torch.Tensor] | None = None  # stage name: (C, H, W), while image() is active
        self.names = stage_names(model)
        self._handles = [model.model[i].register_forward_hook(self._hook(i)) for i in self.names]

    @contextlib.contextmanager
    def image(self, stem: str) -> Iterator[Path]:
        """Capture the stages of the forward passes inside the block and write them to ``save_dir/stem/`` when it
        ends (outside the timed forward); yields that folder."""
        folder, self._captured = self.save_dir / stem, {}
        try:
            yield folder
            folder.mkdir(parents=True, exist_ok=True)
            for name, features in self._captured.items():
                cv2.imwrite(str(folder / f"{name}.png"), feature_grid(features, self.channels))
        finally:
            self._captured = None

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, index: int):
        def capture(module: nn.Module, inputs: tuple, output: torch.Tensor | list[torch.Tensor]) -> None:
            if self._captured is None or self.names[index][0] in self._captured:  # idle, or a later TTA pass
                return
            outputs = output if isinstance(output, (list, tuple)) else [output]
            for name, features in zip(self.names[index], outputs):
                self._captured[name] = features[0, : self.channels].detach().float().cpu()

        return capture
