"""TorchScript export: a traced module with the metadata as an extra file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from utils.inference.backends import TORCHSCRIPT_METADATA


def export_torchscript(model: nn.Module, example: torch.Tensor, path: Path, metadata: dict) -> Path:
    """Trace ``model`` (a ``decoded_only`` wrapper: (B, 3, H, W) -> (B, N, 5 + nc)) on ``example`` and save it.

    Tracing records the shape arithmetic of the head (grid size from the feature map), so the traced module also
    runs at other batch sizes and stride multiples; ``metadata["dynamic"]`` tells loaders whether to rely on that.
    ``metadata`` goes into ``_extra_files={"config.txt": json}`` (see :mod:`utils.inference.backends`).
    """
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # Python ints in the head's shape arithmetic
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.trace is deprecated": TorchScript is still read
        traced = torch.jit.trace(model, example, check_trace=False, strict=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced.save(str(path), _extra_files={TORCHSCRIPT_METADATA: json.dumps(metadata)})
    return path
