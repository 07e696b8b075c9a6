"""Backbone registry. Importing this package registers every shipped backbone."""

from models.backbones import lite, timm_backbone  # noqa: F401  (register the timm and Lite backbones)
from models.backbones.contract import BackboneContract
from models.backbones.layer import Backbone, Index
from models.backbones.registry import create_backbone, list_backbones, register_backbone

__all__ = ["Backbone", "BackboneContract", "Index", "create_backbone", "list_backbones", "register_backbone"]
