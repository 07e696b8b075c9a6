"""INT8 ONNX: ONNX Runtime's static post-training quantization (QDQ) of the float32 export, head left in float.

Settings (see benchmarks/int8.py): unsigned 8-bit activations and signed weights per output channel (U8S8), the
weights in 7 bits (``reduce_range``). On a CPU without VNNI (AVX2 only) ONNX Runtime runs S8S8 convolutions 2.3x
slower than float32 while U8S8 is faster (measured: yolov5n at 160 px, 1 thread, AMD EPYC with AVX2: float32 6.4 ms,
U8S8 5.7 ms, S8S8 15.1 ms); there U8S8's 16-bit intermediate sums can saturate, which 7-bit weights avoid, and the
file has to run on whatever CPU it is taken to. Ranges come from the 99.999th percentile of each
activation's histogram over the calibration images (plain min/max lets a few outlier pixels stretch the range;
it is the fallback when a histogram cannot be built, as for an untrained model's constant activations).

The images go to ONNX Runtime's calibrator in equal chunks (``CalibStridedMinMax``, which despite its name strides
any calibrator): in one call its histogram calibrator keeps every calibrated activation of every image in memory
until the end (``CalibMaxIntermediateOutputs`` only applies to min/max), which for yolov5s-efficientnet-b0 at 320 px
over 205 images outgrew a 24 GB machine.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np

from utils.exporters.onnx_file import INPUT_NAME, set_metadata

LOGGER = logging.getLogger(__name__)

PERCENTILE = 99.999
MAX_CHUNK = 16  # calibration images whose activations ONNX Runtime holds at once before folding them into histograms


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader over a list of ready ``(1, 3, H, W)`` arrays, with the
    length and ``set_range`` that its strided calibration reads in chunks through."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self.batches, self.position, self.end = batches, 0, len(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.position, self.end = start_index, min(end_index, len(self.batches))

    def get_next(self) -> dict | None:
        if self.position >= self.end:
            return None
        self.position += 1
        return {INPUT_NAME: self.batches[self.position - 1]}

    def rewind(self) -> None:
        self.position, self.end = 0, len(self.batches)


def chunk_size(count: int, limit: int = MAX_CHUNK) -> int:
    """The largest divisor of ``count`` up to ``limit``: ONNX Runtime's strided calibration takes equal chunks."""
    return max(size for size in range(1, min(count, limit) + 1) if count % size == 0)


def quantize_onnx(fp32_path: Path, path: Path, batches: list[np.ndarray], head_prefix: str, metadata: dict) -> Path:
    """Write ``path``: ``fp32_path`` quantized on ``batches``, every node whose name starts with ``head_prefix``
    left in float32; the metadata gets ``precision: int8``."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    head = [node.name for node in onnx.load(str(fp32_path)).graph.node if node.name.startswith(head_prefix)]
    path.parent.mkdir(parents=True, exist_ok=True)
    quantize = partial(
        quantize_static, str(fp32_path), str(path), quant_format=QuantFormat.QDQ,
        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        nodes_to_exclude=head,
    )  # fmt: skip
    chunks = {"CalibStridedMinMax": chunk_size(len(batches))}
    try:
        quantize(
            calibration_data_reader=_Reader(batches),
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE, **chunks},
        )
    except ValueError as error:  # numpy cannot bin a tensor that is constant to float32 precision
        if "Too many bins" not in str(error):
            raise
        LOGGER.warning("%s: an activation is constant over the calibration images, so its histogram cannot be "
                       "built; calibrating with min/max ranges instead", fp32_path.name)  # fmt: skip
        quantize(
            calibration_data_reader=_Reader(batches), calibrate_method=CalibrationMethod.MinMax, extra_options=chunks
        )
    proto = onnx.load(str(path))
    set_metadata(proto, {**metadata, "precision": "int8"})
    onnx.save(proto, str(path))
    return path
