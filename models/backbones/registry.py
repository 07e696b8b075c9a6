"""Name -> backbone factory registry.

A backbone is an ``nn.Module`` that keeps ``BackboneContract`` (``models/backbones/contract.py``): ``forward(x)``
returns [P3, P4, P5], and ``out_channels`` and ``strides`` are set at construction. ``create_backbone`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from models.backbones.contract import check_backbone
from utils.errors import UserError
from utils.suggest import did_you_mean

BackboneFactory = Callable[..., nn.Module]

_BACKBONES: dict[str, BackboneFactory] = {}
_PREFIXES: dict[str, Callable[[str], BackboneFactory]] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: make ``create_backbone(name, **kwargs)`` call the decorated factory."""

    def decorate(factory: BackboneFactory) -> BackboneFactory:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is registered twice")
        _BACKBONES[name] = factory
        return factory

    return decorate


def register_backbone_prefix(prefix: str, resolve: Callable[[str], BackboneFactory]) -> None:
    """Register a family of names ``prefix:<anything>``; ``resolve(anything)`` returns the factory."""
    _PREFIXES[prefix] = resolve


def list_backbones() -> list[str]:
    """Registered names, sorted, with one ``prefix:<name>`` entry per prefix family."""
    return sorted(_BACKBONES) + [f"{prefix}:<model_name>" for prefix in sorted(_PREFIXES)]


def get_backbone_factory(name: str) -> BackboneFactory:
    """The factory for ``name``; an unknown name raises a UserError listing the valid names and the closest one."""
    if name in _BACKBONES:
        return _BACKBONES[name]
    prefix, _, rest = name.partition(":")
    if rest and prefix in _PREFIXES:
        return _PREFIXES[prefix](rest)
    hint = did_you_mean(name, _BACKBONES)
    raise UserError(f"unknown backbone {name!r}{hint} Registered backbones: {', '.join(list_backbones())}")


def create_backbone(name: str, **kwargs) -> nn.Module:
    """Build the backbone registered as ``name`` with keyword options (``pretrained``, timm kwargs, ...).

    A module that breaks ``BackboneContract`` raises a one-line UserError saying what is missing or wrong.
    """
    backbone = get_backbone_factory(name)(**kwargs)
    check_backbone(name, backbone)
    return backbone
