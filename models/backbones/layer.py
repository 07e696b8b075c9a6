"""The YAML rows that put a registered backbone into a model.

``[-1, 1, Backbone, [efficientnet_b0, {pretrained: false, freeze: false}]]`` builds the backbone; its output
is the list [P3, P4, P5]. ``[0, 1, Index, [k]]`` picks map ``k`` of that list, so the neck refers to the
backbone's outputs with plain YOLOv5 ``from`` indices.
"""

from __future__ import annotations

import torch
from torch import nn

from models.backbones.registry import create_backbone
from models.common import ModelScale
from utils.errors import UserError


class Backbone(nn.Module):
    """A registered backbone as one model layer, with an optional freeze.

    A frozen backbone has ``requires_grad=False`` and stays in eval mode even when the model trains, so its
    BatchNorm running statistics do not move.
    """

    def __init__(self, name: str, freeze: bool = False, **options) -> None:
        super().__init__()
        self.name = name
        self.body = create_backbone(name, **options)
        self.out_channels = list(self.body.out_channels)
        self.strides = list(self.body.strides)
        self.frozen = bool(freeze)
        if self.frozen:
            self.body.requires_grad_(False)
            self.body.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)

    def output_stride(self, in_stride: float) -> list[float]:
        """The strides of [P3, P4, P5] in input pixels (``in_stride`` is 1 for the image)."""
        return [in_stride * stride for stride in self.strides]

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.frozen:
            self.body.eval()
        return self

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[name]`` or ``[name, {pretrained, freeze, <timm kwargs>}]``; input must be the image."""
        if not args or not isinstance(args[0], str):
            raise UserError("Backbone args must start with a backbone name, e.g. [efficientnet_b0]")
        if len(args) > 2 or (len(args) == 2 and not isinstance(args[1], dict)):
            raise UserError("Backbone args are [name] or [name, {option: value, ...}]")
        if in_channels != 3:
            raise UserError(f"Backbone expects 3-channel RGB input, got {in_channels} channels")
        options = dict(args[1]) if len(args) == 2 else {}
        return cls(args[0], **options)


class Index(nn.Module):
    """Pick one tensor from a layer that outputs a list (a backbone's [P3, P4, P5])."""

    def __init__(self, in_channels: list[int], index: int) -> None:
        super().__init__()
        if not isinstance(in_channels, list):
            raise UserError("Index must take its input from a layer with several outputs (a Backbone row)")
        if not -len(in_channels) <= index < len(in_channels):
            raise UserError(f"Index {index} is out of range for an input with {len(in_channels)} outputs")
        self.index = index
        self.out_channels = in_channels[index]

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return x[self.index]

    def output_stride(self, in_strides: list[float]) -> float:
        return in_strides[self.index]

    @classmethod
    def from_config(cls, in_channels: list[int], args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[index]``."""
        return cls(in_channels, *args)
