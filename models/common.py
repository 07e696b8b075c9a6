"""YOLOv5 v6/v7 building blocks.

Attribute names (``conv``, ``bn``, ``cv1``, ``cv2``, ``cv3``, ``m``) follow YOLOv5 so that state_dict keys
line up with official checkpoints. Every block exposes ``out_channels``, ``output_stride(in_stride)`` (its output's
stride in input pixels, given its input's; None where it cannot tell) and a ``from_config`` class method that turns
one YAML row's ``args`` into a module, so the parser never switches on module type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from utils.errors import UserError

# YOLOv5 sets these on every BatchNorm after construction; we set them at construction.
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def make_divisible(value: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` that is >= ``value`` (how YOLOv5 rounds scaled channel counts)."""
    return int(math.ceil(value / divisor) * divisor)


class ModelScale:
    """The ``depth_multiple`` / ``width_multiple`` pair of a model YAML."""

    def __init__(self, depth_multiple: float = 1.0, width_multiple: float = 1.0) -> None:
        self.depth_multiple = depth_multiple
        self.width_multiple = width_multiple

    def depth(self, number: int) -> int:
        """Repeat count after depth scaling; rows with number 1 stay 1."""
        return max(round(number * self.depth_multiple), 1) if number > 1 else number

    def width(self, channels: int) -> int:
        """Channel count after width scaling, rounded up to a multiple of 8."""
        return make_divisible(channels * self.width_multiple, 8)


def autopad(kernel: int | Sequence[int], padding: int | None = None, dilation: int = 1) -> int | list[int]:
    """'Same' padding for odd kernels when ``padding`` is None."""
    if padding is not None:
        return padding
    if isinstance(kernel, int):
        return dilation * (kernel - 1) // 2 if dilation > 1 else kernel // 2
    return [dilation * (k - 1) // 2 if dilation > 1 else k // 2 for k in kernel]


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 1,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride,
            autopad(kernel, padding, dilation),
            groups=groups,
            dilation=dilation,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def output_stride(self, in_stride: float) -> float | None:
        """``in_stride`` times the conv's stride; None unless the padding makes the output exactly input / stride."""
        c = self.conv
        exact = isinstance(c.padding, tuple) and all(
            0 <= d * (k - 1) - 2 * p < s for k, s, p, d in zip(c.kernel_size, c.stride, c.padding, c.dilation)
        )
        return in_stride * c.stride[0] if exact and c.stride[0] == c.stride[1] else None

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[out_channels, kernel=1, stride=1, padding=None, groups=1, dilation=1, act=True]``."""
        return repeat(cls, number, in_channels, scale.width(args[0]), *args[1:])


class Bottleneck(nn.Module):
    """1x1 then 3x3 Conv, with a residual add when shapes allow."""

    def __init__(
        self, in_channels: int, out_channels: int, shortcut: bool = True, groups: int = 1, expansion: float = 0.5
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.cv1 = Conv(in_channels, hidden, 1, 1)
        self.cv2 = Conv(hidden, out_channels, 3, 1, groups=groups)
        self.add = shortcut and in_channels == out_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y

    def output_stride(self, in_stride: float) -> float:
        return in_stride

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[out_channels, shortcut=True, groups=1, expansion=0.5]``."""
        return repeat(cls, number, in_channels, scale.width(args[0]), *args[1:])


class C3(nn.Module):
    """CSP bottleneck with three convolutions: ``cv3(cat(m(cv1(x)), cv2(x)))``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        number: int = 1,
        shortcut: bool = True,
        groups: int = 1,
        expansion: float = 0.5,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.cv1 = Conv(in_channels, hidden, 1, 1)
        self.cv2 = Conv(in_channels, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, out_channels, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, groups, expansion=1.0) for _ in range(number)))
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))

    def output_stride(self, in_stride: float) -> float:
        return in_stride

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[out_channels, shortcut=True, groups=1, expansion=0.5]``; the row's number sets the depth."""
        return cls(in_channels, scale.width(args[0]), number, *args[1:])


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained max-pools, concatenated with their input."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 5) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.cv1 = Conv(in_channels, hidden, 1, 1)
        self.cv2 = Conv(hidden * 4, out_channels, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=kernel, stride=1, padding=kernel // 2)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))

    def output_stride(self, in_stride: float) -> float:
        return in_stride

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[out_channels, kernel=5]``."""
        return repeat(cls, number, in_channels, scale.width(args[0]), *args[1:])


class Concat(nn.Module):
    """Concatenate a list of tensors along ``dimension`` (channels by default)."""

    def __init__(self, in_channels: Sequence[int], dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension
        self.out_channels = sum(in_channels) if dimension == 1 else in_channels[0]

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)

    def output_stride(self, in_strides: list[float]) -> float | None:
        """The inputs' common stride (a mismatch is a UserError); None when concatenating along height or width."""
        if self.d != 1:
            return None
        if len(set(in_strides)) > 1:
            raise UserError(f"Concat inputs have different strides {in_strides}: their maps differ in size")
        return in_strides[0]

    @classmethod
    def from_config(cls, in_channels: Sequence[int], args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[dimension=1]``; ``from`` lists the inputs."""
        return cls(in_channels, *args)


class Upsample(nn.Upsample):
    """``nn.Upsample`` that knows its output channels (YAML name ``nn.Upsample``, args ``[size, scale, mode]``)."""

    def __init__(
        self, in_channels: int, size: int | None = None, scale_factor: float | None = None, mode: str = "nearest"
    ) -> None:
        super().__init__(size=size, scale_factor=scale_factor, mode=mode)
        self.out_channels = in_channels

    def output_stride(self, in_stride: float) -> float | None:
        """``in_stride`` over the scale factor; None for a fixed output ``size``, whose stride depends on the input."""
        factors = self.scale_factor if isinstance(self.scale_factor, tuple) else (self.scale_factor,)
        if self.size is not None or len(set(factors)) != 1:
            return None
        stride = in_stride / factors[0]
        return int(stride) if stride.is_integer() else stride

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        return cls(in_channels, *args)


class Repeat(nn.Sequential):
    """Blocks run one after another: YOLOv5's ``nn.Sequential`` layout for repeated rows (the same state_dict keys)."""

    def __init__(self, *blocks: nn.Module) -> None:
        super().__init__(*blocks)
        self.out_channels = blocks[-1].out_channels

    def output_stride(self, in_stride: float) -> float | None:
        for block in self:
            in_stride = None if in_stride is None else block.output_stride(in_stride)
        return in_stride


def repeat(block: type[nn.Module], number: int, *args) -> nn.Module:
    """One block, or ``number`` identical blocks in a ``Repeat`` (YOLOv5's layout for repeated rows)."""
    if number == 1:
        return block(*args)
    first = block(*args)
    return Repeat(first, *(block(first.out_channels, *args[1:]) for _ in range(number - 1)))
