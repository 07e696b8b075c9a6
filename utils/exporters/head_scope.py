"""The part of an exported graph INT8 quantization must leave in float: the Detect head.

The head's last convolutions give raw logits whose range differs per output channel (box, objectness, classes),
and the decoding after them turns grid offsets into pixel coordinates (up to the image size) and multiplies by
anchors: 8-bit steps there move boxes by whole pixels. The rest of the network quantizes well. Node names in the
ONNX file (and in the OpenVINO model converted from it) carry the module path, ``/model/model.24/m.0/Conv``, where
the outer ``model`` is :func:`utils.inference.backends.decoded_only`'s wrapper.
"""

from __future__ import annotations

import re

from torch import nn


def head_prefix(model: nn.Module) -> str:
    """``/model/<path of the Detect module>/``: the name prefix of every exported node of the head."""
    from models.head import Detect

    paths = [name for name, module in model.named_modules() if isinstance(module, Detect)]
    if len(paths) != 1:
        raise ValueError(f"expected one Detect module, found {len(paths)}")
    return f"/model/{paths[0]}/"


def head_pattern(prefix: str) -> str:
    """A regular expression matching the whole name of every node under ``prefix`` (NNCF's ``IgnoredScope``)."""
    return f".*{re.escape(prefix)}.*"
