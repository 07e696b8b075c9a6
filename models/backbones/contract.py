"""What every backbone promises, in code: ``BackboneContract``, and ``check_backbone``, which the registry runs on
each backbone it builds so that a broken one fails at once with one line naming what is missing."""

from __future__ import annotations

import numbers
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from utils.errors import UserError

LEVELS = ("P3", "P4", "P5")


@runtime_checkable
class BackboneContract(Protocol):
    """An ``nn.Module`` that turns RGB images in 0..1, shape (B, 3, H, W), into three feature maps [P3, P4, P5].

    Both lists are set in the constructor, so the model is built without a forward pass:
    ``out_channels``: the channel counts of P3, P4, P5 (a tuple will do); ``strides``: their strides in input
    pixels, strictly increasing (usually 8, 16, 32). Map ``k`` has shape (B, out_channels[k], H // strides[k],
    W // strides[k]) for H, W multiples of the largest stride.
    """

    out_channels: list[int]
    strides: list[int]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]: ...


def check_backbone(name: str, backbone: object) -> None:
    """Raise a one-line UserError naming ``name``, the class and the first broken promise of ``BackboneContract``."""
    problem = _contract_problem(backbone)
    if problem:
        raise UserError(f"backbone {name!r} ({type(backbone).__name__}) breaks the backbone contract: {problem}")


def _contract_problem(backbone: object) -> str | None:
    if not isinstance(backbone, nn.Module):
        return "it is not an nn.Module"
    if type(backbone).forward is nn.Module.forward:
        return "no forward(x) method (returning the list [P3, P4, P5])"
    for attribute, meaning in (("out_channels", "channels"), ("strides", "strides")):
        meaning = f"the {meaning} of {', '.join(LEVELS)}"
        if not hasattr(backbone, attribute):
            return f"no {attribute!r} attribute (a list of {len(LEVELS)} ints, {meaning})"
        value = getattr(backbone, attribute)
        if not (isinstance(value, (list, tuple)) and len(value) == len(LEVELS) and all(map(_positive_int, value))):
            return f"{attribute!r} must be a list of {len(LEVELS)} positive ints ({meaning}), got {value!r}"
    if any(a >= b for a, b in zip(backbone.strides, backbone.strides[1:])):
        return f"'strides' must increase from P3 to P5, got {list(backbone.strides)}"
    return None


def _positive_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
