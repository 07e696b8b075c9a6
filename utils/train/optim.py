"""Optimizer with YOLOv5's three parameter groups, the LR schedules and the warmup."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from models.yolov7_blocks import ImplicitA, ImplicitM
from utils.errors import UserError

NOMINAL_BATCH_SIZE = 64  # YOLOv5's default: gradients are accumulated up to this many images per optimizer step


def parameter_groups(model: nn.Module, exclude: frozenset[int] = frozenset()) -> tuple[list, list, list]:
    """(weights with decay, norm-layer weights and YOLOv7's implicit layers without decay, biases without decay);
    parameters whose ``id`` is in ``exclude`` are left out."""
    decay, no_decay, biases = [], [], []
    norm_types = tuple(v for k, v in vars(nn).items() if "Norm" in k and isinstance(v, type))
    norm_types += (ImplicitA, ImplicitM)  # offsets and scales, like a norm's: YOLOv7 does not decay them
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad or id(parameter) in exclude:
                continue
            if name == "bias":
                biases.append(parameter)
            elif isinstance(module, norm_types):
                no_decay.append(parameter)
            else:
                decay.append(parameter)
    return decay, no_decay, biases


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    momentum: float,
    weight_decay: float,
    backbone: nn.Module | None = None,
) -> torch.optim.Optimizer:
    """SGD (Nesterov), Adam or AdamW. Group 0 holds the biases (its warmup LR starts high), group 1 the
    decayed weights, group 2 the norm weights, as in YOLOv5.

    With ``backbone`` (a module holding the backbone's layers), its parameters leave those groups for groups of
    their own, in the same order and marked ``"backbone": True`` (biases also ``"bias": True``), so that a
    ``backbone_recipe`` can give them another learning rate. Empty backbone groups are left out.
    """
    held = frozenset(id(p) for p in backbone.parameters()) if backbone is not None else frozenset()
    decay, no_decay, biases = parameter_groups(model, exclude=held)
    if name == "SGD":
        optimizer = torch.optim.SGD(biases, lr=lr, momentum=momentum, nesterov=True)
    elif name == "Adam":
        optimizer = torch.optim.Adam(biases, lr=lr, betas=(momentum, 0.999))
    elif name == "AdamW":
        optimizer = torch.optim.AdamW(biases, lr=lr, betas=(momentum, 0.999), weight_decay=0.0)
    else:
        raise UserError(f"--optimizer {name!r}: expected SGD, Adam or AdamW")
    optimizer.add_param_group({"params": decay, "weight_decay": weight_decay})
    optimizer.add_param_group({"params": no_decay, "weight_decay": 0.0})
    if backbone is not None:
        own_decay, own_no_decay, own_biases = parameter_groups(backbone)
        for params, decay_value, is_bias in (
            (own_biases, 0.0, True), (own_decay, weight_decay, False), (own_no_decay, 0.0, False)
        ):  # fmt: skip
            if params:
                optimizer.add_param_group(
                    {"params": params, "weight_decay": decay_value, "backbone": True, "bias": is_bias}
                )
    return optimizer


def lr_curve(epochs: int, final_fraction: float, cosine: bool) -> Callable[[float], float]:
    """YOLOv5's LR multiplier at point ``x`` of the schedule: linear or cosine from 1 at ``x = 0`` down to
    ``final_fraction`` (hyp ``lrf``) at ``x = epochs``."""
    if cosine:
        return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (final_fraction - 1) + 1
    return lambda x: (1 - x / epochs) * (1.0 - final_fraction) + final_fraction


def epoch_lr_factor(curve: Callable[[float], float], epoch: int) -> float:
    """The multiplier an epoch trains at once warmup is over.

    YOLOv5 steps its scheduler at the end of each epoch starting from ``last_epoch = -1``, so epoch ``e`` trains at
    ``curve(e - 1)`` and the last one at ``curve(E - 2)`` (3x ``lrf`` for 100 epochs). Following it keeps a YOLOv5
    hyp file giving the same LRs here; the factor depends on the epoch alone, so a resumed run lands on it too.
    """
    return curve(max(epoch - 1, 0))


def warmup(
    optimizer: torch.optim.Optimizer,
    iteration: int,
    warmup_iterations: int,
    epoch_factor: float,
    hyp: dict,
) -> None:
    """Ramp LRs from 0 (biases: from ``warmup_bias_lr`` down) to ``initial_lr * epoch_factor``, and momentum
    from ``warmup_momentum`` to ``momentum``, over the first ``warmup_iterations`` iterations.

    A group's ``lr_scale`` (a backbone recipe's multiplier, 0 while frozen) scales its bias start too."""
    points = [0, warmup_iterations]
    for index, group in enumerate(optimizer.param_groups):
        is_bias = index == 0 or group.get("bias", False)
        start = hyp["warmup_bias_lr"] * group.get("lr_scale", 1.0) if is_bias else 0.0
        group["lr"] = float(np.interp(iteration, points, [start, group["initial_lr"] * epoch_factor]))
        if "momentum" in group:
            group["momentum"] = float(np.interp(iteration, points, [hyp["warmup_momentum"], hyp["momentum"]]))
        if "betas" in group:
            group["betas"] = (float(np.interp(iteration, points, [hyp["warmup_momentum"], hyp["momentum"]])), 0.999)


def accumulation_steps(
    iteration: int, warmup_iterations: int, batch_size: int, nominal_batch_size: int = NOMINAL_BATCH_SIZE
) -> int:
    """Batches per optimizer step: 1 at the start of warmup, growing to ``nominal_batch_size / batch_size``."""
    target = max(round(nominal_batch_size / batch_size), 1)
    if iteration > warmup_iterations:
        return target
    return max(1, int(np.interp(iteration, [0, warmup_iterations], [1, target]).round()))
