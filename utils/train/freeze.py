"""Freezing layers for training: no gradients, and BatchNorm statistics that do not move."""

from __future__ import annotations

from torch import nn

from utils.errors import UserError


def layers_to_freeze(model: nn.Module, spec: list[str]) -> list[int]:
    """Layer indices for ``--freeze``: ``backbone``, one number N (the first N layers, as in YOLOv5), or indices.

    ``backbone`` means the ``Backbone`` rows of a pluggable config (the timm network, however deep it is), or
    every row of the YAML's ``backbone`` section for a native config.
    """
    if not spec:
        return []
    if spec == ["backbone"]:
        plugged = [layer.i for layer in model.model if layer.type == "Backbone"]
        return plugged or list(range(len(model.yaml["backbone"])))
    try:
        numbers = [int(item) for item in spec]
    except ValueError:
        raise UserError(f"--freeze {' '.join(spec)}: expected 'backbone', a layer count N, or layer indices") from None
    layers = len(model.model)
    if len(numbers) == 1:
        if not 0 <= numbers[0] <= layers:
            raise UserError(f"--freeze {numbers[0]}: the model has {layers} layers; freeze 0 to {layers} of them")
        return list(range(numbers[0]))
    outside = [n for n in numbers if not 0 <= n < layers]
    if outside:
        raise UserError(f"--freeze {' '.join(spec)}: layer {outside[0]} does not exist (layers are 0 to {layers - 1})")
    return numbers


def freeze_layers(model: nn.Module, indices: list[int]) -> list[nn.Module]:
    """Turn off gradients of the given layers; return them, for :func:`keep_frozen_in_eval` after ``train()``."""
    frozen = [model.model[i] for i in indices]
    for layer in frozen:
        layer.requires_grad_(False)
    return frozen


def keep_frozen_in_eval(frozen: list[nn.Module]) -> None:
    """Put the BatchNorm layers of frozen layers back in eval mode (call after every ``model.train()``)."""
    for layer in frozen:
        for module in layer.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
