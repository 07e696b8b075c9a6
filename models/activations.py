"""The ``activation`` key of a model YAML: the activation of the model's YOLOv5 ``Conv`` blocks.

SiLU is YOLOv5's default; ReLU6, ReLU, LeakyReLU and Hardswish are cheaper on phones and integer accelerators and
quantize better. YOLOv5 applies the key by assigning ``Conv.default_act`` for the whole process, so a second model
built in the same process silently gets the first one's activation; here each model replaces the activations of its
own ``Conv`` modules after they are built, and nothing else changes. The spelling is YOLOv5's, without the
evaluation: ``ReLU6``, ``nn.ReLU6()``, ``LeakyReLU(0.1)``, ``nn.LeakyReLU(0.1)`` (the slope is the only argument).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import nn

from utils.errors import UserError
from utils.suggest import did_you_mean

ACTIVATION_KEY = "activation"
DEFAULT_LEAKY_SLOPE = 0.01  # torch's default, used for a bare "LeakyReLU"
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "SiLU": lambda: nn.SiLU(inplace=True),
    "ReLU": lambda: nn.ReLU(inplace=True),
    "ReLU6": lambda: nn.ReLU6(inplace=True),
    "LeakyReLU": lambda slope=DEFAULT_LEAKY_SLOPE: nn.LeakyReLU(slope, inplace=True),
    "Hardswish": lambda: nn.Hardswish(inplace=True),
    "Mish": lambda: nn.Mish(inplace=True),
}
_SPEC = re.compile(r"^(?:nn\.)?([A-Za-z0-9_]+)(?:\(\s*([^()]*?)\s*\))?$")


def activation_factory(spec: object, source: str = "<model dict>") -> Callable[[], nn.Module]:
    """A function making a fresh activation module for the YAML value ``spec``; a UserError naming ``source``
    for anything else."""
    where = f"{source}: {ACTIVATION_KEY}"
    match = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise UserError(f"{where} {spec!r}: expected a name such as ReLU6 or LeakyReLU(0.1) "
                        f"(one of {', '.join(ACTIVATIONS)})")  # fmt: skip
    name, argument = match.groups()
    if name not in ACTIVATIONS:
        raise UserError(f"{where} {spec!r}: unknown activation{did_you_mean(name, ACTIVATIONS)} "
                        f"(one of {', '.join(ACTIVATIONS)})")  # fmt: skip
    if not argument:
        return ACTIVATIONS[name]
    if name != "LeakyReLU":
        raise UserError(f"{where} {spec!r}: {name} takes no argument (only LeakyReLU takes its slope)")
    try:
        slope = float(argument)
    except ValueError:
        raise UserError(f"{where} {spec!r}: the LeakyReLU slope must be a number, got {argument!r}") from None
    if not 0 <= slope < 1:
        raise UserError(f"{where} {spec!r}: the LeakyReLU slope must be in [0, 1)")
    return lambda: ACTIVATIONS[name](slope)


def replace_conv_activations(
    layers: nn.Module, make: Callable[[], nn.Module], conv_type: type[nn.Module] | tuple[type[nn.Module], ...]
) -> int:
    """Give every ``conv_type`` block in ``layers`` that has an activation a fresh one from ``make``; return how
    many were replaced. Blocks built without an activation (``act=False``: an ``Identity``) keep none."""
    replaced = 0
    for module in layers.modules():
        if isinstance(module, conv_type) and not isinstance(module.act, nn.Identity):
            module.act = make()
            replaced += 1
    return replaced
