"""The blocks YOLOv7's configs add to YOLOv5's: ``MP`` and ``SP`` pooling rows and the ``IDetect`` head.

YOLOv7 writes its ELAN blocks as plain ``Conv`` and ``Concat`` rows, so these few are all its tiny model needs
beyond YOLOv5's. The state_dict names follow YOLOv7's (``ia.N.implicit``, ``im.N.implicit``), so its weights line up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.common import ModelScale
from models.head import Detect


class _ChannelKeepingPool(nn.MaxPool2d):
    """A max-pool row: keeps the channels, divides the map by its stride; row args are its constructor's."""

    def output_stride(self, in_stride: float) -> float:
        return in_stride * self.stride

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        return cls(in_channels, *args)


class MP(_ChannelKeepingPool):
    """Max-pool with stride equal to the kernel (row args ``[kernel=2]``): halves the map."""

    def __init__(self, in_channels: int, kernel: int = 2) -> None:
        super().__init__(kernel_size=kernel, stride=kernel)
        self.out_channels = in_channels


class SP(_ChannelKeepingPool):
    """Max-pool with 'same' padding (row args ``[kernel=3, stride=1]``): the pyramid rows of YOLOv7's SPP blocks."""

    def __init__(self, in_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(kernel_size=kernel, stride=stride, padding=kernel // 2)
        self.out_channels = in_channels


class ImplicitA(nn.Module):
    """A learned per-channel offset added to a feature map (YOLOR's implicit knowledge), starting near 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.implicit = nn.Parameter(torch.empty(1, channels, 1, 1).normal_(mean=0.0, std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.implicit


class ImplicitM(nn.Module):
    """A learned per-channel scale multiplied onto a feature map, starting near 1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.implicit = nn.Parameter(torch.empty(1, channels, 1, 1).normal_(mean=1.0, std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.implicit


class IDetect(Detect):
    """YOLOv7's head: YOLOv5's ``Detect`` with an ``ImplicitA`` before and an ``ImplicitM`` after each level's 1x1
    convolution. Both are linear around that convolution, so :meth:`fold_implicit` moves them into its weights for
    inference and the head becomes a plain ``Detect``."""

    def __init__(self, num_classes: int, anchors: Sequence[Sequence[float]], in_channels: Sequence[int]) -> None:
        super().__init__(num_classes, anchors, in_channels)
        self.ia = nn.ModuleList(ImplicitA(c) for c in in_channels)
        self.im = nn.ModuleList(ImplicitM(self.no * self.na) for _ in in_channels)

    def forward(self, features: list[torch.Tensor]):
        return super().forward([add(x) for add, x in zip(self.ia, features)])

    def level_output(self, level: int, conv_output: torch.Tensor) -> torch.Tensor:
        return self.im[level](conv_output)

    @torch.no_grad()
    def fold_implicit(self) -> None:
        """conv(x + a) * m == conv'(x) with bias' = (bias + W a) * m and W' = W * m per output channel; the
        implicit layers become identities (and leave the parameter count)."""
        for level, conv in enumerate(self.m):
            add, mul = self.ia[level], self.im[level]
            if isinstance(add, nn.Identity):
                continue
            weight = conv.weight.view(conv.out_channels, -1)
            conv.bias += weight @ add.implicit.view(-1)
            scale = mul.implicit.view(-1)
            conv.bias *= scale
            conv.weight *= scale.view(-1, 1, 1, 1)
            self.ia[level], self.im[level] = nn.Identity(), nn.Identity()
