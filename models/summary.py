"""Model size figures: layers, parameters, gradients and FLOPs, printed as YOLOv5 prints them."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, image_size: int | tuple[int, int] = 640, channels: int = 3) -> int:
    """Floating-point operations of one forward pass on a single image (a multiply-add counts as 2).

    Runs in eval mode under ``no_grad``, so BatchNorm statistics are untouched; restores the training flag.
    """
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    parameter = next(model.parameters())
    image = torch.zeros(1, channels, height, width, device=parameter.device, dtype=parameter.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(image)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def estimate_flops(model: nn.Module, image_size: int = 640, probe_size: int = 64) -> int:
    """The convolutions' and linear layers' floating-point operations at ``image_size``, counted by hooks on one
    forward pass at ``probe_size`` and scaled by the area ratio (YOLOv5 scales its GFLOPs the same way). Exact for
    YOLOv5's C3 models when both sizes are multiples of the largest stride; about 1% high for EfficientNet, whose
    squeeze-excitation convolutions run on pooled 1x1 maps that do not grow with the image. A fraction of a
    second, where :func:`count_flops` takes seconds: fit for a line printed at every training start."""
    total = 0

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += 2 * output.numel() * kernel
        else:
            total += 2 * output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, probe_size, probe_size, device=parameter.device, dtype=parameter.dtype))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return round(total * (image_size / probe_size) ** 2)


def model_summary(model: nn.Module, name: str, image_size: int | None = 640, estimate: bool = False) -> str:
    """``<name> summary: <L> layers, <P> parameters, <G> gradients, <F> GFLOPs`` (GFLOPs at ``image_size``,
    counted exactly or, with ``estimate``, by :func:`estimate_flops`)."""
    layers = len(list(model.modules()))
    parameters = sum(p.numel() for p in model.parameters())
    gradients = sum(p.numel() for p in model.parameters() if p.requires_grad)
    text = f"{name} summary: {layers} layers, {parameters} parameters, {gradients} gradients"
    if image_size:
        flops = estimate_flops(model, image_size) if estimate else count_flops(model, image_size)
        text += f", {flops / 1e9:.1f} GFLOPs"
    return text
