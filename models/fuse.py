"""Folding BatchNorm into the preceding convolution for inference."""

from __future__ import annotations

from timm.layers import Conv2dSame
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# Convolutions whose output is a plain conv of the input, so a BatchNorm after them folds into their weights:
# timm's Conv2dSame (TensorFlow "same" padding, used by tf_ models such as EfficientNet-Lite) only pads first.
FOLDABLE_CONVS = (nn.Conv2d, Conv2dSame)


def fuse_conv_bn(model: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d among its siblings; return how many were folded.

    Covers YOLOv5's ``Conv`` (``conv`` then ``bn``) and timm's blocks, whose ``BatchNormAct2d`` carries the
    activation: the norm is folded and its activation (and dropout) kept in its place. Puts ``model`` in eval
    mode, since folding uses the running statistics.
    """
    model.eval()
    folded = 0
    for parent in list(model.modules()):
        names = list(parent._modules)
        for conv_name, norm_name in zip(names, names[1:]):
            conv, norm = parent._modules[conv_name], parent._modules[norm_name]
            if _foldable(conv, norm):
                parent._modules[conv_name] = fuse_conv_bn_eval(conv, norm)
                parent._modules[norm_name] = _what_follows_norm(norm)
                folded += 1
    return folded


def _foldable(conv: nn.Module | None, norm: nn.Module | None) -> bool:
    return (
        type(conv) in FOLDABLE_CONVS
        and isinstance(norm, nn.BatchNorm2d)
        and norm.track_running_stats
        and norm.running_mean is not None
        and norm.num_features == conv.out_channels
    )


def _what_follows_norm(norm: nn.BatchNorm2d) -> nn.Module:
    """Identity for a plain BatchNorm2d; the dropout + activation of a timm BatchNormAct2d."""
    tail = [m for m in (getattr(norm, "drop", None), getattr(norm, "act", None)) if m is not None]
    tail = [m for m in tail if not isinstance(m, nn.Identity)]
    if not tail:
        return nn.Identity()
    return tail[0] if len(tail) == 1 else nn.Sequential(*tail)
