"""INT8 OpenVINO IR: NNCF's post-training quantization of the converted float32 model, head left in float.

Settings (see benchmarks/int8.py): the MIXED preset (symmetric weights, asymmetric activations: SiLU outputs go
below zero), the full bias correction (``fast_bias_correction=False``: slower to export, closer to float on BCCD).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import yaml

from utils.errors import UserError
from utils.exporters.head_scope import head_pattern
from utils.inference.backends import OPENVINO_METADATA


def quantize_openvino(
    onnx_path: Path, folder: Path, batches: list[np.ndarray], head_prefix: str, metadata: dict
) -> Path:
    """Convert ``onnx_path``, quantize it on ``batches`` with every node under ``head_prefix`` ignored, and save
    ``folder/<stem>.xml`` + ``.bin`` (float32 where not quantized) with ``metadata.yaml`` (``precision: int8``)."""
    import openvino

    try:
        import nncf
    except ImportError:
        raise UserError("--include openvino --int8 needs NNCF: pip install nncf") from None
    logging.getLogger("nncf").setLevel(logging.WARNING)  # one INFO line per operation otherwise; progress bars stay
    model = openvino.convert_model(str(onnx_path))
    quantized = nncf.quantize(
        model, nncf.Dataset(batches), preset=nncf.QuantizationPreset.MIXED, subset_size=len(batches),
        fast_bias_correction=False, ignored_scope=nncf.IgnoredScope(patterns=[head_pattern(head_prefix)]),
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder.name.removesuffix("_openvino_model")
    openvino.save_model(quantized, str(folder / f"{stem}.xml"), compress_to_fp16=False)
    record = {**metadata, "precision": "int8"}
    (folder / OPENVINO_METADATA).write_text(yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return folder
