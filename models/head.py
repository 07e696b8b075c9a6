"""The YOLOv5 detection head."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from models.common import ModelScale
from utils.errors import UserError


class Detect(nn.Module):
    """One 1x1 convolution per level predicting, for each of ``num_anchors`` anchors per cell,
    ``(x, y, w, h, objectness, class scores...)``.

    Buffers: ``anchors`` (num_levels, num_anchors, 2) holds anchor sizes in units of each level's stride
    (the YAML gives pixels; the model divides once strides are known, as YOLOv5 does), and ``stride``
    (num_levels,) in pixels, not saved in the state_dict because the model recomputes it.

    Output, training mode: a list with one raw tensor per level, shape (B, num_anchors, ny, nx, 5 + num_classes),
    logits. Eval mode: ``(decoded, raw)`` where ``decoded`` is (B, N, 5 + num_classes) with boxes as
    ``xywh`` (centre x, centre y, width, height) in input-image pixels and sigmoid scores.
    """

    def __init__(self, num_classes: int, anchors: Sequence[Sequence[float]], in_channels: Sequence[int]) -> None:
        super().__init__()
        if len(anchors) != len(in_channels):
            raise UserError(f"Detect has {len(in_channels)} inputs but {len(anchors)} anchor levels")
        self.nc = num_classes
        self.no = num_classes + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).view(self.nl, -1, 2))
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in in_channels)
        self.out_channels = self.no * self.na
        self._grid_cache: dict[int, tuple] = {}  # level -> (key, grid, anchor grid, anchor/stride versions)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        raw = []
        for level, conv in enumerate(self.m):
            p = self.level_output(level, conv(features[level]))
            batch, _, ny, nx = p.shape
            raw.append(p.view(batch, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        if self.training:
            return raw
        return self.decode(raw), raw

    def level_output(self, level: int, conv_output: torch.Tensor) -> torch.Tensor:
        """A level's convolution output before it is split into anchors (YOLOv7's head scales it here)."""
        return conv_output

    def output_stride(self, in_strides: list[float]) -> list[float]:
        """One raw output per input level, at that input's stride: these become the model's strides."""
        return list(in_strides)

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Raw per-level logits -> (B, N, 5 + num_classes): xywh in input pixels, sigmoid scores."""
        outputs = []
        for level, p in enumerate(raw):
            batch, _, ny, nx, _ = p.shape
            grid, anchor_grid = self._grid(level, ny, nx, p)
            xy, wh, scores = p.sigmoid().split((2, 2, self.nc + 1), dim=4)
            xy = (xy * 2 + grid) * self.stride[level]
            doubled = wh * 2  # squared as a product: TFLite has no float pow kernel; same result as ** 2
            wh = doubled * doubled * anchor_grid
            outputs.append(torch.cat((xy, wh, scores), 4).view(batch, -1, self.no))
        return torch.cat(outputs, 1)

    def _grid(self, level: int, ny: int, nx: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cell offsets (1, na, ny, nx, 2), shifted by -0.5, and anchor sizes in pixels (1, na, 1, 1, 2).

        Both are kept per level for the last size seen, since inference repeats sizes; not while tracing or under
        ``torch.export`` (LiteRT, ExecuTorch), so that an exported graph computes them for whatever size it is fed
        and no fake tensor of the export is left in the cache. The anchor sizes are reused only while the
        anchors' and strides' version counters stand still (AutoAnchor, EMA updates and checkpoint loads write them
        in place); buffers made under inference mode keep no counter, so theirs are recomputed every call.
        """
        key = (ny, nx, like.device, like.dtype, torch.is_inference_mode_enabled())
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()
        versions = None if self.anchors.is_inference() or self.stride.is_inference() else (
            self.anchors._version, self.stride._version)  # fmt: skip
        grid = anchor_grid = None
        cached = self._grid_cache.get(level)
        if cached is not None and cached[0] == key and not tracing:
            grid = cached[1]
            if versions is not None and cached[3] == versions:
                anchor_grid = cached[2]
        if grid is None:
            ys = torch.arange(ny, device=like.device, dtype=like.dtype)
            xs = torch.arange(nx, device=like.device, dtype=like.dtype)
            yv, xv = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack((xv, yv), 2).expand(1, self.na, ny, nx, 2) - 0.5
        if anchor_grid is None:
            anchor_grid = (self.anchors[level] * self.stride[level]).view(1, self.na, 1, 1, 2).to(like.dtype)
        if not tracing:
            self._grid_cache[level] = (key, grid, anchor_grid, versions)
        return grid, anchor_grid

    def set_strides(self, strides: torch.Tensor) -> None:
        """Record the level strides (pixels) and convert the YAML's pixel anchors to stride units."""
        self.stride.copy_(strides)
        self._check_anchor_order()
        self.anchors /= self.stride.view(-1, 1, 1)

    def initialize_biases(self, image_size: int = 640) -> None:
        """YOLOv5's priors: about 8 objects per 640 px image, class probability 0.6 / num_classes."""
        for conv, stride in zip(self.m, self.stride.tolist()):
            bias = conv.bias.view(self.na, -1)
            with torch.no_grad():
                bias[:, 4] += math.log(8 / (image_size / stride) ** 2)
                bias[:, 5 : 5 + self.nc] += math.log(0.6 / (self.nc - 0.99999))

    def _check_anchor_order(self) -> None:
        """Flip the anchor levels (still in pixels) if their sizes run opposite to the strides."""
        area = self.anchors.prod(-1).mean(-1).view(-1)
        if (area[-1] - area[0]).sign() != (self.stride[-1] - self.stride[0]).sign() and area[-1] != area[0]:
            self.anchors[:] = self.anchors.flip(0)

    @classmethod
    def from_config(cls, in_channels: list[int], args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[num_classes, anchors]``; ``anchors`` is a list of pixel sizes per level, or an int
        (anchors per level) for placeholders that AutoAnchor replaces."""
        if not isinstance(in_channels, list):
            raise UserError("Detect takes a list of inputs in `from`, e.g. [17, 20, 23]")
        num_classes, anchors = args[0], args[1]
        if isinstance(anchors, int):
            anchors = [list(range(anchors * 2))] * len(in_channels)
        return cls(num_classes, anchors, in_channels, *args[2:])
