"""Exponential moving average of model weights, the model that is validated and saved."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """Keeps ``ema = d * ema + (1 - d) * model`` for every floating-point tensor of the state_dict.

    The decay ramps up as ``decay * (1 - exp(-updates / tau))`` so early weights are not over-weighted.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0) -> None:
        self.ema = copy.deepcopy(unwrap(model)).eval()
        self.updates = updates
        self.decay, self.tau = decay, tau
        for parameter in self.ema.parameters():
            parameter.requires_grad_(False)

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = self.current_decay()
        source = unwrap(model).state_dict()
        for name, value in self.ema.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(source[name].detach(), alpha=1 - decay)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel/DataParallel wrapper, or the model itself."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model
