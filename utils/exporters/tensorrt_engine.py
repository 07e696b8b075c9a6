"""TensorRT export (NVIDIA GPUs only): an ONNX graph built into a serialized engine with YOLOv5's metadata header.

Untested in this repository's CI (no GPU, no tensorrt); the code follows TensorRT 8.6/10's Python builder API.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from utils.errors import UserError
from utils.exporters.onnx_file import INPUT_NAME

LOGGER = logging.getLogger(__name__)


def export_engine(
    onnx_path: Path,
    path: Path,
    metadata: dict,
    shape: tuple[int, int, int, int],
    device: torch.device,
    half: bool = False,
    dynamic: bool = False,
    workspace_gb: int = 4,
) -> Path:
    """Build ``onnx_path`` (float32, exported on ``device``) into ``path``.

    File layout (YOLOv5's): 4-byte little-endian length of the metadata JSON, the JSON, then the engine. ``shape``
    is the (B, 3, H, W) the engine is optimised for; with ``dynamic`` the batch may range over 1..B (height and
    width stay fixed, as in YOLOv5). ``half`` enables FP16 kernels when the GPU has fast FP16.
    """
    if device.type != "cuda":
        raise UserError("--include engine needs a CUDA device (--device 0); TensorRT runs on NVIDIA GPUs only")
    try:
        import tensorrt as trt
    except ImportError:
        raise UserError("--include engine needs the tensorrt package (pip install tensorrt)") from None
    logger = trt.Logger(trt.Logger.INFO)
    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_gb << 30)
    legacy = int(trt.__version__.split(".")[0]) < 10  # TensorRT 8 needs the explicit-batch flag; 10 has only that
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if legacy else 0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    if dynamic:
        profile = builder.create_optimization_profile()
        batch, channels, height, width = shape
        low, mid = (1, channels, height, width), (max(1, batch // 2), channels, height, width)
        profile.set_shape(INPUT_NAME, low, mid, tuple(shape))
        config.add_optimization_profile(profile)
    if half and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    LOGGER.info("TensorRT %s: building %s engine for %s", trt.__version__, "FP16" if half else "FP32", shape)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log above)")
    header = json.dumps(metadata).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.write(len(header).to_bytes(4, byteorder="little", signed=True))
        file.write(header)
        file.write(memoryview(engine))
    return path
