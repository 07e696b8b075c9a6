"""The blocks YOLOv7's configs add to YOLOv5's: ``MP`` and ``SP`` pooling rows, ``SPPCSPC``, ``RepConv`` and the
``IDetect`` head.

YOLOv7 writes its ELAN blocks as plain ``Conv`` and ``Concat`` rows, so these few are all its models need beyond
YOLOv5's. The state_dict names follow YOLOv7's (``rbr_dense``, ``ia.N.implicit``, ...), so its weights line up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.common import BN_EPS, BN_MOMENTUM, Conv, ModelScale, autopad
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


class SPPCSPC(nn.Module):
    """YOLOv7's spatial pyramid pooling in a cross-stage-partial block: one branch runs 1x1, 3x3, 1x1 convs, the
    5/9/13 max-pools concatenated with their input, then 1x1 and 3x3; the other is a 1x1 conv; a 1x1 joins them."""

    def __init__(self, in_channels: int, out_channels: int, expansion: float = 0.5,
                 kernels: Sequence[int] = (5, 9, 13)) -> None:  # fmt: skip
        super().__init__()
        hidden = int(2 * out_channels * expansion)
        self.cv1 = Conv(in_channels, hidden, 1, 1)
        self.cv2 = Conv(in_channels, hidden, 1, 1)
        self.cv3 = Conv(hidden, hidden, 3, 1)
        self.cv4 = Conv(hidden, hidden, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2) for k in kernels)
        self.cv5 = Conv((len(kernels) + 1) * hidden, hidden, 1, 1)
        self.cv6 = Conv(hidden, hidden, 3, 1)
        self.cv7 = Conv(2 * hidden, out_channels, 1, 1)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.cv4(self.cv3(self.cv1(x)))
        pyramid = self.cv6(self.cv5(torch.cat([pooled, *(pool(pooled) for pool in self.m)], 1)))
        return self.cv7(torch.cat((pyramid, self.cv2(x)), 1))

    def output_stride(self, in_stride: float) -> float:
        return in_stride

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[out_channels]`` (YOLOv7's extra arguments are not used by its configs)."""
        return cls(in_channels, scale.width(args[0]))


class RepConv(nn.Module):
    """A 3x3 conv + BN, a 1x1 conv + BN and (with equal channels and stride 1) a BN of the input, summed, then the
    activation. Training sees three branches; :meth:`reparameterize` folds them into one 3x3 convolution with bias
    (``rbr_reparam``), which computes the same function in eval mode."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.act = nn.SiLU(inplace=True)

        def norm(channels: int) -> nn.BatchNorm2d:
            return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)

        padding = autopad(kernel)
        self.rbr_identity = norm(in_channels) if in_channels == out_channels and stride == 1 else None
        self.rbr_dense = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False),
                                       norm(out_channels))  # fmt: skip
        self.rbr_1x1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, padding - kernel // 2,
                                               bias=False), norm(out_channels))  # fmt: skip
        self.rbr_reparam: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rbr_reparam is not None:
            return self.act(self.rbr_reparam(x))
        identity = 0 if self.rbr_identity is None else self.rbr_identity(x)
        return self.act(self.rbr_dense(x) + self.rbr_1x1(x) + identity)

    def output_stride(self, in_stride: float) -> float:
        return in_stride * self.rbr_dense[0].stride[0]

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold the branches (each BN into its conv, the 1x1 and identity kernels centred in 3x3) into
        ``rbr_reparam`` and drop them. Uses the BN running statistics: call in eval mode."""
        if self.rbr_reparam is not None:
            return
        dense = self.rbr_dense[0]
        weight, bias = _folded(dense.weight, self.rbr_dense[1])
        half = dense.kernel_size[0] // 2
        one_weight, one_bias = _folded(self.rbr_1x1[0].weight, self.rbr_1x1[1])
        weight[:, :, half, half] += one_weight[:, :, 0, 0]
        bias += one_bias
        if self.rbr_identity is not None:
            eye = torch.eye(dense.in_channels, dtype=weight.dtype, device=weight.device).view(*weight.shape[:2], 1, 1)
            identity_weight, identity_bias = _folded(eye, self.rbr_identity)
            weight[:, :, half, half] += identity_weight[:, :, 0, 0]
            bias += identity_bias
        fused = nn.Conv2d(dense.in_channels, dense.out_channels, dense.kernel_size, dense.stride, dense.padding,
                          bias=True).to(weight.device, weight.dtype)  # fmt: skip
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
        self.rbr_reparam = fused
        del self.rbr_dense, self.rbr_1x1
        self.rbr_identity = None

    @classmethod
    def from_config(cls, in_channels: int, args: list, number: int, scale: ModelScale) -> nn.Module:
        """Row args: ``[out_channels, kernel=3, stride=1]``."""
        return cls(in_channels, scale.width(args[0]), *args[1:])


def _folded(weight: torch.Tensor, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel and bias of ``norm(conv(x))`` for a bias-free conv with ``weight``."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return weight * scale.view(-1, 1, 1, 1), norm.bias - norm.running_mean * scale


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
