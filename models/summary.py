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


def model_summary(model: nn.Module, name: str, image_size: int | None = 640) -> str:
    """``<name> summary: <L> layers, <P> parameters, <G> gradients, <F> GFLOPs`` (GFLOPs at ``image_size``)."""
    layers = len(list(model.modules()))
    parameters = sum(p.numel() for p in model.parameters())
    gradients = sum(p.numel() for p in model.parameters() if p.requires_grad)
    text = f"{name} summary: {layers} layers, {parameters} parameters, {gradients} gradients"
    if image_size:
        text += f", {count_flops(model, image_size) / 1e9:.1f} GFLOPs"
    return text
