"""Backbones built from timm models with ``features_only=True``.

Registered names: ``efficientnet_b0`` ... ``efficientnet_b7``, ``darknet53``, ``cspdarknet53``, and the family
``timm:<model_name>`` for any other timm model that supports ``features_only``.
"""

from __future__ import annotations

import functools
import logging

import timm
import torch
from torch import nn

from models.backbones.pretrained import check_download_possible, load_local_weights, offline_hint
from models.backbones.registry import register_backbone, register_backbone_prefix
from utils.errors import UserError
from utils.suggest import did_you_mean

LOGGER = logging.getLogger(__name__)

DETECTION_STRIDES = (8, 16, 32)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TimmBackbone(nn.Module):
    """A timm feature extractor that returns the P3, P4, P5 maps of RGB 0..1 images.

    Images are normalised with the mean/std of the timm model's pretrained config inside ``forward``,
    so ImageNet weights see the inputs they were trained on while the detector keeps YOLOv5's 0..1 input.

    Args:
        model_name: a timm model name (``timm.list_models()``).
        pretrained: False; True for timm's own download; or a path to a local ``.pth``/``.safetensors`` file.
        **timm_kwargs: passed to ``timm.create_model`` (``drop_path_rate``, ...).
    """

    def __init__(self, model_name: str, pretrained: bool | str = False, **timm_kwargs) -> None:
        super().__init__()
        self.model_name = model_name
        self.body = _create_features_model(model_name, pretrained is True, timm_kwargs)
        if isinstance(pretrained, str):
            load_local_weights(self.body, pretrained, model_name)
        elif pretrained not in (False, None):
            raise UserError(
                f"backbone {model_name}: 'pretrained' must be false, true or a file path, got {pretrained!r}"
            )
        self.out_indices = _indices_at_strides(self.body, model_name)
        info = self.body.feature_info
        self.out_channels = [info.channels()[i] for i in self.out_indices]
        self.strides = [info.reduction()[i] for i in self.out_indices]
        cfg = getattr(self.body, "pretrained_cfg", None) or {}
        mean, std = cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) RGB 0..1 -> [P3 (B, C3, H/8, W/8), P4 (B, C4, H/16, W/16), P5 (B, C5, H/32, W/32)]."""
        features = self.body((x - self.mean) / self.std)
        return [features[i] for i in self.out_indices]


def _create_features_model(model_name: str, download: bool, timm_kwargs: dict) -> nn.Module:
    if not timm.is_model(model_name):
        hint = did_you_mean(model_name, timm.list_models())
        raise UserError(f"timm has no model {model_name!r}{hint} (see timm.list_models())")
    if download:
        check_download_possible(model_name)
    try:
        return timm.create_model(model_name, features_only=True, pretrained=download, **timm_kwargs)
    except UserError:
        raise
    except TypeError as error:
        raise UserError(f"backbone {model_name}: bad option for timm.create_model: {error}") from None
    except RuntimeError as error:
        if "features_only" in str(error):
            raise UserError(f"timm model {model_name!r} does not support features_only") from None
        if download:
            raise UserError(offline_hint(model_name, error)) from None
        raise
    except Exception as error:  # the hub client raises many types when offline
        if download:
            raise UserError(offline_hint(model_name, error)) from None
        raise


def _indices_at_strides(body: nn.Module, model_name: str) -> list[int]:
    """Indices of the deepest feature map at each of the strides 8, 16, 32."""
    reductions = list(body.feature_info.reduction())
    indices = []
    for stride in DETECTION_STRIDES:
        matches = [i for i, reduction in enumerate(reductions) if reduction == stride]
        if not matches:
            raise UserError(
                f"timm model {model_name!r} has feature maps at strides {reductions}; a detector needs 8, 16 and 32"
            )
        indices.append(matches[-1])
    return indices


def _register_timm_backbones() -> None:
    names = [f"efficientnet_b{i}" for i in range(8)] + ["darknet53", "cspdarknet53"]
    for name in names:
        register_backbone(name)(functools.partial(TimmBackbone, name))
    register_backbone_prefix("timm", lambda model_name: functools.partial(TimmBackbone, model_name))


_register_timm_backbones()
