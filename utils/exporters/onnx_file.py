"""ONNX export through PyTorch's TorchScript-based exporter (``dynamo=False``), optionally slimmed by onnxslim.

Why not the dynamo exporter (the default of ``torch.onnx.export`` since torch 2.9): it needs the ``onnxscript``
package, which this project does not depend on. The TorchScript-based exporter is the one YOLOv5 used, needs only
``onnx``, and is tested here on every shipped config, static and ``--dynamic`` (default opset 17).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from utils.errors import UserError

INPUT_NAME, OUTPUT_NAME = "images", "output0"  # the names utils.inference.backends and YOLOv5 tools expect
DEFAULT_OPSET = 17
MIN_OPSET = 11  # Resize with scales and the other ops the models use need opset 11 or later
DYNAMIC_AXES = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch", 1: "anchors"}}


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    metadata: dict,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = False,
    simplify: bool = False,
) -> Path:
    """Write ``model`` ((B, 3, H, W) -> (B, N, 5 + nc)) to ``path`` as ONNX with input ``images``, output ``output0``.

    ``dynamic``: batch, height and width are named dims (any stride multiple works); else they are fixed to
    ``example``'s shape. ``simplify``: run onnxslim (constant folding, shape-op removal). ``metadata_props`` get
    ``stride`` (an int as text) and ``names`` (a JSON list), the contract of :mod:`utils.inference.backends`.
    """
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints in the head's shape arithmetic
        try:
            torch.onnx.export(
                model, (example,), str(path), dynamo=False, opset_version=opset, do_constant_folding=True,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=DYNAMIC_AXES if dynamic else None,
            )  # fmt: skip
        except (ValueError, RuntimeError) as error:
            if "opset" in str(error).lower():
                raise UserError(f"--opset {opset}: {str(error).strip().splitlines()[0]}") from None
            raise
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    if simplify:
        proto = _slim(proto)
    set_metadata(proto, metadata)
    onnx.save(proto, str(path))
    return path


def set_metadata(proto, metadata: dict) -> None:
    """Replace ``proto``'s ``metadata_props`` with ``stride`` (an int as text), ``names`` (a JSON list) and, for a
    quantized file, ``precision`` (``int8``)."""
    del proto.metadata_props[:]
    entries = {"stride": str(metadata["stride"]), "names": json.dumps(metadata["names"])}
    if "precision" in metadata:
        entries["precision"] = str(metadata["precision"])
    for key, value in entries.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def _slim(proto):
    """onnxslim's simplified graph; onnxslim is optional, so its absence is the user's to fix."""
    try:
        import onnxslim
    except ImportError:
        raise UserError("--simplify needs the onnxslim package (pip install onnxslim)") from None
    return onnxslim.slim(proto)
