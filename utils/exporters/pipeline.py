"""``export``: a checkpoint (or a model in memory) to every requested format, each file checked against PyTorch."""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from utils.device import select_device
from utils.errors import UserError
from utils.exporters.check import TOLERANCE_TEXT, check_images, compare_outputs
from utils.exporters.head_scope import head_prefix
from utils.exporters.onnx_file import export_onnx
from utils.exporters.options import ExportOptions
from utils.inference.backends import decoded_only, export_metadata
from utils.letterbox import height_width

LOGGER = logging.getLogger(__name__)

# --include choices, in the order they are written
FORMATS = ("torchscript", "onnx", "openvino", "engine", "ncnn", "tflite", "coreml", "executorch")


@dataclass
class ExportResult:
    """One written file. ``max_abs_diff``: the self-check's max abs difference from PyTorch on the decoded output
    (None when not checked: TensorRT, or ``check=False``). ``passed``: False only when a float32 file's outputs are
    not within the tolerance of :class:`~utils.exporters.check.Comparison` (float16 ones are printed, not judged)."""

    format: str
    path: Path
    seconds: float
    max_abs_diff: float | None = None
    passed: bool = True

    def line(self) -> str:
        check = "not checked" if self.max_abs_diff is None else f"max abs diff vs PyTorch {self.max_abs_diff:.2e}"
        if self.format == "coreml":
            check = "spec checked; not run here (CoreML runs on Apple devices)"
        verdict = "" if self.passed else ": MISMATCH"
        return f"{self.format:<12} {self.path}  ({self.seconds:.1f} s, {check}{verdict})"


def export(weights: str | Path, options: ExportOptions) -> list[ExportResult]:
    """Export checkpoint ``weights`` (``best.pt``) to ``best.torchscript``, ``best.onnx``,
    ``best_openvino_model/best.xml``, ``best.engine``, ``best_ncnn_model/`` and/or ``best_float32.tflite`` beside it,
    as ``options.include`` asks.

    The model is rebuilt from the checkpoint (EMA weights), Conv+BatchNorm fused, in eval mode, on ``options.device``.
    """
    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

    weights = Path(weights)
    if weights.suffix != ".pt":
        raise UserError(f"--weights {weights}: export reads a .pt checkpoint of this repository")
    model = model_from_checkpoint(load_checkpoint(weights)).fuse().eval()
    return export_model(model, list(model.names), weights.with_suffix(""), options)


def export_model(
    model: nn.Module, names: Sequence[str], stem: Path, options: ExportOptions, check: bool = True
) -> list[ExportResult]:
    """Export a fused eval-mode ``DetectionModel`` to ``<stem>.torchscript``, ``<stem>.onnx``,
    ``<stem>_openvino_model/``, ``<stem>.engine``, ``<stem>_ncnn_model/`` and ``<stem>_float32.tflite``, as
    ``options`` says (see :class:`ExportOptions`).

    ``check``: run each file on ``options.check_image`` letterboxed (see :func:`check_images`) and log its max abs
    difference from PyTorch; float32 files must agree within 1e-3 (+ 1e-4 relative, for large boxes):
    ``ExportResult.passed``.
    """
    include, device, half = _checked_formats(options.include), select_device(options.device), options.half
    stride = int(model.stride.max())
    shape = _checked_imgsz(options.imgsz, stride)
    if options.batch_size < 1:
        raise UserError(f"--batch-size {options.batch_size}: must be at least 1")
    if half and device.type != "cuda" and {"torchscript", "onnx"} & set(include):
        raise UserError("--half for torchscript/onnx needs a CUDA device (--device 0); on CPU only openvino takes it")
    if "engine" in include and device.type != "cuda":
        raise UserError("--include engine needs a CUDA device (--device 0); TensorRT runs on NVIDIA GPUs only")
    metadata = export_metadata(stride, list(names), shape, options.dynamic)
    calibration = None
    if options.int8:  # before anything is written: a bad --data stops the export with nothing half done
        from utils.exporters.calibration import calibration_batches

        calibration = Int8Calibration(
            calibration_batches(str(options.data), shape, stride, options.int8_images), head_prefix(model)
        )
    reference = decoded_only(model.to(device).eval()).eval()
    images = check_images(shape, options.batch_size, options.check_image).to(device)
    results = _write_formats(model, reference, images, include, stem, metadata, options, device, calibration)
    if check:
        for result in results:
            _self_check(result, reference, images, half, metadata)
    return results


@dataclass(frozen=True)
class Int8Calibration:
    """What ``--int8`` quantizes with: the calibration inputs and the name prefix of the head kept in float."""

    batches: list
    head_prefix: str


def _write_formats(
    model, reference, images, include, stem, metadata, options, device, calibration=None
) -> list[ExportResult]:
    """Write each format in turn; OpenVINO and TensorRT convert a float32 ONNX file (theirs or a scratch one).
    With ``calibration`` (``--int8``) the ONNX, OpenVINO and TFLite files are quantized copies, named ``*_int8``."""
    torch_half = options.half and device.type == "cuda"
    traced = decoded_only(copy.deepcopy(model).half()).eval() if torch_half else reference
    example = images.half() if torch_half else images
    dynamic, opset = options.dynamic, options.opset
    results = []
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        fp32_onnx = None  # the float32 ONNX file OpenVINO and TensorRT convert (they choose their own precision)
        for fmt in include:
            LOGGER.info(f"{fmt}: exporting {stem.name} at {tuple(example.shape)}{' dynamic' if dynamic else ''}...")
            start = time.perf_counter()
            if fmt == "torchscript":
                path = _torchscript(traced, example, stem, metadata)
            elif fmt == "ncnn":
                path = _ncnn(reference, images, stem, metadata, options.half)
            elif fmt == "tflite":
                path = _tflite(reference, images, stem, metadata, options.half, calibration)
            elif fmt == "coreml":
                path = _coreml(reference, images, stem, metadata, options.half)
            elif fmt == "executorch":
                path = _executorch(reference, images, stem, metadata)
            elif fmt == "onnx":
                onnx_path = Path(scratch) / "fp32.onnx" if calibration else stem.with_suffix(".onnx")
                path = export_onnx(traced, example, onnx_path, metadata, opset, dynamic, options.simplify)
                fp32_onnx = None if torch_half else path
                if calibration:
                    path = _onnx_int8(path, stem, metadata, calibration)
            else:
                if fp32_onnx is None:
                    fp32_onnx = export_onnx(reference, images, Path(scratch) / "fp32.onnx", metadata, opset, dynamic)
                convert = _openvino if fmt == "openvino" else _engine
                if calibration:
                    convert = partial(_openvino_int8, calibration=calibration)
                path = convert(fp32_onnx, stem, metadata, options.half, dynamic, options.workspace,
                               tuple(images.shape), device)  # fmt: skip
            results.append(ExportResult(fmt, path, time.perf_counter() - start))
    return results


def _self_check(result: ExportResult, reference: nn.Module, images: torch.Tensor, half: bool, metadata: dict) -> None:
    if result.format == "engine":
        LOGGER.info("%s: not checked (DetectMultiBackend has no TensorRT runtime)", result.path)
        return
    if result.format == "coreml":
        _check_coreml(result, tuple(images.shape), metadata)
        return
    comparison = compare_outputs(result.path, reference, images, half=half and images.device.type == "cuda")
    quantized = "_int8" in result.path.name  # judged by its mAP (val.py), not by a float tolerance
    result.max_abs_diff, result.passed = comparison.max_abs_diff, comparison.close or half or quantized
    if quantized:
        LOGGER.info(f"{result.path}: int8, max abs difference from PyTorch {result.max_abs_diff:.2e} (not judged by "
                    "the float tolerance; compare val.py's mAP with the float file's)")  # fmt: skip
        return
    verdict = "" if result.passed else f" (above {TOLERANCE_TEXT})"
    level = logging.INFO if result.passed else logging.WARNING
    height, width = images.shape[2:]
    LOGGER.log(level, f"{result.path}: max abs difference from PyTorch {result.max_abs_diff:.2e} on a letterboxed "
               f"{height}x{width} image{verdict}")  # fmt: skip


def _check_coreml(result: ExportResult, input_shape: tuple[int, ...], metadata: dict) -> None:
    """CoreML runs on Apple devices only: here its spec is checked, not its outputs."""
    from utils.exporters.coreml_model import check_coreml_spec

    problems = check_coreml_spec(result.path, input_shape, metadata)
    result.passed = not problems
    if problems:
        LOGGER.warning("%s: spec check failed: %s", result.path, "; ".join(problems))
    else:
        LOGGER.info("%s: converted and its spec checked (input, output, metadata); not run here, CoreML runs on Apple "
                    "devices", result.path)  # fmt: skip


def _torchscript(model: nn.Module, example: torch.Tensor, stem: Path, metadata: dict) -> Path:
    from utils.exporters.torchscript import export_torchscript

    return export_torchscript(model, example, stem.with_suffix(".torchscript"), metadata)


def _ncnn(model: nn.Module, example: torch.Tensor, stem: Path, metadata: dict, half: bool) -> Path:
    from utils.exporters.ncnn_model import export_ncnn

    return export_ncnn(_on_cpu(model), example.cpu(), stem.parent / f"{stem.name}_ncnn_model", metadata, half)


def _tflite(model: nn.Module, example: torch.Tensor, stem: Path, metadata: dict, half: bool,
            calibration: Int8Calibration | None = None) -> Path:  # fmt: skip
    from utils.exporters.tflite_model import export_tflite

    kind = "int8" if calibration else f"float{16 if half else 32}"
    batches = calibration.batches if calibration else None
    return export_tflite(_on_cpu(model), example.cpu(), stem.parent / f"{stem.name}_{kind}.tflite", metadata, half,
                         batches)  # fmt: skip


def _coreml(model: nn.Module, example: torch.Tensor, stem: Path, metadata: dict, half: bool) -> Path:
    from utils.exporters.coreml_model import export_coreml

    return export_coreml(_on_cpu(model), example.cpu(), stem.with_suffix(".mlpackage"), metadata, half)


def _executorch(model: nn.Module, example: torch.Tensor, stem: Path, metadata: dict) -> Path:
    from utils.exporters.executorch_model import export_executorch

    folder = stem.parent / f"{stem.name}_executorch_model"
    return export_executorch(_on_cpu(model), example.cpu(), folder, metadata)


def _on_cpu(model: nn.Module) -> nn.Module:
    """The phone formats are converted from a CPU model; a copy when the export runs on a GPU."""
    return model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()


def _openvino(onnx_path: Path, stem: Path, metadata: dict, half: bool, *_) -> Path:
    from utils.exporters.openvino_ir import export_openvino

    return export_openvino(onnx_path, stem.parent / f"{stem.name}_openvino_model", metadata, half)


def _onnx_int8(fp32_path: Path, stem: Path, metadata: dict, calibration: Int8Calibration) -> Path:
    from utils.exporters.onnx_int8 import quantize_onnx

    path = stem.parent / f"{stem.name}_int8.onnx"
    return quantize_onnx(fp32_path, path, calibration.batches, calibration.head_prefix, metadata)


def _openvino_int8(onnx_path: Path, stem: Path, metadata: dict, *_, calibration: Int8Calibration) -> Path:
    from utils.exporters.openvino_int8 import quantize_openvino

    folder = stem.parent / f"{stem.name}_int8_openvino_model"
    return quantize_openvino(onnx_path, folder, calibration.batches, calibration.head_prefix, metadata)


def _engine(onnx_path, stem, metadata, half, dynamic, workspace, shape, device) -> Path:
    from utils.exporters.tensorrt_engine import export_engine

    return export_engine(onnx_path, stem.with_suffix(".engine"), metadata, shape, device, half, dynamic, workspace)


def _checked_formats(include: Sequence[str]) -> list[str]:
    wanted = [str(f).lower().lstrip(".") for f in include]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise UserError(f"--include {' '.join(map(str, include)) or '(nothing)'}: choose from {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in wanted]


def _checked_imgsz(imgsz: int | Sequence[int], stride: int) -> tuple[int, int]:
    """``640`` or ``[640]`` -> (640, 640); ``[480, 640]`` -> (480, 640); each a positive multiple of ``stride``."""
    height, width = height_width(imgsz)
    for size in (height, width):
        if size <= 0 or size % stride:
            fixed = max(stride, -(-size // stride) * stride)
            raise UserError(f"--imgsz {size}: must be a multiple of the model's stride {stride} (try {fixed})")
    return height, width
