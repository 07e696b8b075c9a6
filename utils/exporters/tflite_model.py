"""TFLite (LiteRT) export: the model converted by Google's ``litert-torch`` (torch.export underneath).

The file keeps the NCHW input of the other formats (``(1, 3, H, W)`` RGB 0..1) and the decoded output. ``--int8``
quantizes it with torch's PT2E flow and litert-torch's quantizer (static, int8 activations, per-channel int8
weights), calibrated on the shared calibration images; the Detect head stays float (see
:mod:`utils.exporters.head_scope`). Its input becomes int8 (the first quantize folds into it: the loader applies the
stored scale and zero point, exact for 8-bit pixels) and its output stays float32. The metadata
(stride, names, imgsz) travels inside the ``.tflite`` itself: a zip archive holding ``metadata.json`` is appended after
the flatbuffer, which TFLite interpreters ignore and :mod:`zipfile` finds from the end of the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.errors import UserError
from utils.inference.model_files import TFLITE_METADATA, first_line

LOGGER = logging.getLogger(__name__)


def export_tflite(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    metadata: dict,
    half: bool = False,
    calibration: Sequence[np.ndarray] | None = None,
) -> Path:
    """Convert ``model`` (a ``decoded_only`` wrapper) for ``example``'s shape and write ``path`` with the metadata.

    The input size and batch are fixed (``dynamic: false`` in the metadata), as in YOLOv5's TFLite export. ``half``
    stores the convolution weights in float16 (ai-edge-quantizer's float casting: half the file; LiteRT computes in
    float32, or float16 on phones whose GPU/NPU delegate takes it). ``calibration`` (``(1, 3, H, W)`` float32
    arrays) quantizes the model to int8, head excepted.
    """
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")  # its own progress lines; the export logs its own
    try:
        import litert_torch
    except ImportError:
        raise UserError("--include tflite needs litert-torch: pip install litert-torch ai-edge-litert") from None
    example = example.float()
    try:
        with _root_logging_at(logging.WARNING):  # it logs every lowering at INFO on the root logger
            if calibration is None:
                edge_model = litert_torch.convert(model.eval(), (example,))
            else:
                edge_model = _convert_int8(litert_torch, model.eval(), example, calibration)
    except Exception as error:
        raise UserError(f"litert-torch could not convert the model to TFLite: {first_line(error)}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    edge_model.export(str(partial))
    if half:
        partial.write_bytes(_float16_weights(partial.read_bytes()))
    extra = {"weights": "f16"} if half else {"precision": "int8"} if calibration is not None else {}
    append_metadata(partial, {**metadata, "dynamic": False, **extra})
    partial.replace(path)
    return path


def _convert_int8(litert_torch, model: nn.Module, example: torch.Tensor, calibration: Sequence[np.ndarray]):
    """PT2E static quantization (observers run on ``calibration``), then conversion of the quantized graph."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from models.head import Detect

    # the exported graph records module types by qualified name; a None config leaves that module in float
    head = type(next(module for module in model.modules() if isinstance(module, Detect)))  # Detect or IDetect
    head_type = f"{head.__module__}.{head.__qualname__}"
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    quantizer.set_module_type(head_type, None)
    graph = prepare_pt2e(torch.export.export(model, (example,)).module(), quantizer)
    with torch.no_grad():
        for batch in calibration:
            graph(torch.from_numpy(batch))
    graph = convert_pt2e(graph, fold_quantize=False)
    return litert_torch.convert(graph, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer))


def _float16_weights(flatbuffer: bytes) -> bytes:
    """The same model with float16 weights for its convolutions, through ai-edge-quantizer (litert-torch needs it)."""
    from ai_edge_quantizer import qtyping, quantizer

    cast = quantizer.Quantizer(bytearray(flatbuffer))
    cast.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                algorithm_key="float_casting")  # fmt: skip
    with _root_logging_at(logging.WARNING):
        return bytes(cast.quantize(enable_progress_bar=False, enable_progress_report=False).quantized_model)


def append_metadata(path: Path, metadata: dict) -> None:
    """Append a zip archive with ``metadata.json`` to the flatbuffer at ``path``."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(TFLITE_METADATA, json.dumps(metadata))


@contextlib.contextmanager
def _root_logging_at(level: int) -> Iterator[None]:
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(level, before))
    try:
        yield
    finally:
        root.setLevel(before)
