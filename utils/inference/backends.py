"""One inference front for every model format: ``DetectMultiBackend`` picks the runtime from the weights' suffix.

Every back end takes the same input and returns the same output, so NMS and everything after it is shared:

- input: ``(B, 3, H, W)`` float tensor, RGB, values 0..1, ``H`` and ``W`` multiples of ``stride`` (or exactly
  ``fixed_shape`` for a model exported with a static input size);
- output: ``(B, N, 5 + nc)`` float32 tensor on the back end's device: ``xywh`` box centre/size in input pixels,
  objectness, then ``nc`` class probabilities (the model's eval-mode ``decoded`` output, sigmoids applied).

Formats and their metadata contract (the export code writes exactly this; a file without metadata still loads, with
stride 32 and names ``class0..``, and a warning):

- ``*.pt``: a checkpoint of ours (``utils/checkpoints/checkpoint.py``); names and stride come from the rebuilt
  model, which is fused (Conv+BatchNorm folded) and uses the EMA weights when present.
- ``*.torchscript``: ``torch.jit.save(traced, path, _extra_files={"config.txt": json})`` where ``json`` is
  ``{"stride": 32, "names": ["person", ...], "imgsz": [640, 640], "dynamic": false}``. The traced module maps the
  input above to the output above (wrap the model with :func:`decoded_only` before tracing). A traced model is
  static unless ``"dynamic": true``: it is fed ``imgsz`` exactly.
- ``*.onnx`` (onnxruntime): input named ``images``, output ``output0``; ``metadata_props`` entries
  ``stride`` (``"32"``) and ``names`` (a JSON list; a JSON object ``{"0": "person"}`` or a Python dict literal as
  YOLOv5 writes it is also read, never ``eval``-ed). Integer input dims mean a static size; named dims are dynamic.
  A float16 input is fed float16.
- OpenVINO: a folder ``<name>_openvino_model/`` holding one ``<name>.xml`` + ``<name>.bin`` and a sidecar
  ``metadata.yaml`` with ``stride: 32`` and ``names: [...]`` (YOLOv5's layout; readable without OpenVINO), or the
  ``.xml`` itself with ``metadata.yaml`` beside it. A static input partial shape means a fixed size.
- NCNN: a folder ``<name>_ncnn_model/`` holding ``model.ncnn.param``, ``model.ncnn.bin`` and ``metadata.yaml`` as
  OpenVINO's (ultralytics' layout). The graph has its export size baked in: ``imgsz`` there is the fixed size.
- ``*.tflite`` (LiteRT): NCHW float input, the decoded output; the metadata is ``metadata.json`` in a zip archive
  appended to the flatbuffer. Input dims are static.

Precision: float32 everywhere unless ``fp16`` is asked for. Then PyTorch, TorchScript and ONNX Runtime run float16 on
CUDA; on a CPU with native bfloat16 (AVX512-BF16 or AMX) PyTorch and TorchScript run under bf16 autocast, elsewhere
they stay float32 with a note (emulated bf16 is slower than float32); and OpenVINO, which runs on the CPU, computes
in bf16 where the CPU has it (see :mod:`utils.inference.openvino_runtime`: its own default would be bf16 on such
CPUs even without ``fp16``).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from utils.device import cpu_has_bf16
from utils.errors import UserError
from utils.inference.model_files import (
    CPU_ONLY_FORMATS,
    DEFAULT_STRIDE,
    METADATA_YAML,
    MISSING_METADATA,
    OPENVINO_METADATA,
    SUFFIXES,
    ExportedModel,
    first_line,
    format_of,
    metadata_names,
    metadata_stride,
    open_exported,
    precision_label,
    read_yaml_metadata,
    static_batch,
    static_hw,
)

LOGGER = logging.getLogger(__name__)

TORCHSCRIPT_METADATA = "config.txt"  # the _extra_files key holding the JSON metadata
__all__ = ["DEFAULT_STRIDE", "OPENVINO_METADATA", "SUFFIXES", "BackendDetector", "DetectMultiBackend"]


def decoded_only(model: nn.Module) -> nn.Module:
    """Wrap an eval-mode ``DetectionModel`` so its forward returns only ``decoded`` (B, N, 5 + nc): what exporters
    trace, since the raw per-level list is of no use at inference time."""
    return _DecodedOnly(model)


class _DecodedOnly(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


class BackendDetector(nn.Module):
    """A :class:`DetectMultiBackend` seen as a ``DetectionModel`` in eval mode: ``images -> (decoded, None)``, so
    :func:`utils.evaluation.evaluate.evaluate` scores any exported format with the code that scores checkpoints
    (there are no raw per-level outputs, hence no validation loss)."""

    def __init__(self, backend: DetectMultiBackend) -> None:
        super().__init__()
        self.backend = backend

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.backend(images), None


def export_metadata(stride: int, names: list[str], imgsz: tuple[int, int], dynamic: bool = False) -> dict:
    """The metadata every exported format carries (see the module docstring for where each format stores it)."""
    return {"stride": int(stride), "names": [str(n) for n in names], "imgsz": [int(imgsz[0]), int(imgsz[1])],
            "dynamic": bool(dynamic)}  # fmt: skip


class DetectMultiBackend(nn.Module):
    """Load ``weights`` in whichever format its suffix names and run it with the shared contract above.

    Attributes: ``names`` (list of class names, index = class id), ``stride`` (int, the largest stride),
    ``fixed_shape`` (``(H, W)`` the model must be fed, or ``None`` when any stride multiple works), ``fixed_batch``
    (the batch size a static ONNX/OpenVINO graph takes, else ``None``), ``format`` (``"pt"``, ``"torchscript"``,
    ``"onnx"``, ``"openvino"``, ``"ncnn"``, ``"tflite"``), ``fp16`` (float16 tensors are fed: CUDA only),
    ``precision`` (what the model computes in: ``"f32"``, ``"f16"`` or OpenVINO's ``"bf16"``, with ``"int8+"``
    before it for a file ``export.py --int8`` wrote), ``device``, and
    ``model`` (the ``DetectionModel`` for ``.pt``, else ``None``; test-time augmentation needs it).

    ``weights`` may also be a ``DetectionModel`` in memory (one built from a YAML, untrained, for the Python API):
    it is then treated as a loaded ``.pt``, and fused and moved to ``device`` in place.
    """

    def __init__(self, weights: str | Path | nn.Module, device: torch.device | str = "cpu", fp16: bool = False) -> None:
        super().__init__()
        in_memory = isinstance(weights, nn.Module)
        path = Path(f"<{type(weights).__name__} in memory>" if in_memory else weights)
        self.device = torch.device(device)
        self.format = "pt" if in_memory else format_of(path)
        self.fp16 = fp16 and self.device.type == "cuda" and self.format not in CPU_ONLY_FORMATS
        self._half_asked = fp16
        torch_cpu = fp16 and self.device.type == "cpu" and self.format in ("pt", "torchscript")
        self.cpu_bf16 = torch_cpu and cpu_has_bf16()  # autocast to bfloat16 where the CPU computes it natively
        if fp16 and not self.fp16 and not self.cpu_bf16 and self.format not in CPU_ONLY_FORMATS:
            LOGGER.info("--half needs a CUDA device (or, for %s, a CPU with AVX512-BF16/AMX); running in float32 on "
                        "%s", self.format, self.device)  # fmt: skip
        self.precision = "f16" if self.fp16 else "bf16" if self.cpu_bf16 else "f32"  # OpenVINO's loader sets its own
        self.model: nn.Module | None = None
        self.fixed_shape: tuple[int, int] | None = None
        self.fixed_batch: int | None = None
        if not in_memory and not path.exists():
            raise UserError(f"weights not found: {path}")
        loader = {"pt": self._load_pt, "torchscript": self._load_torchscript, "onnx": self._load_onnx,
                  "executorch": self._load_executorch, "coreml": _refuse_coreml}.get(
            self.format, self._load_cpu_runtime)  # fmt: skip
        metadata = self._adopt_model(weights) if in_memory else loader(path)
        self.precision = precision_label(self.precision, metadata)  # int8+ for an export.py --int8 file
        if not metadata.get("stride") or not metadata.get("names"):
            LOGGER.warning(MISSING_METADATA, path, DEFAULT_STRIDE)
        self.stride = metadata_stride(metadata.get("stride"), path)
        self.names = metadata_names(metadata.get("names"), path) or [f"class{i}" for i in range(self._num_classes())]
        fixed = f", fixed input {self.fixed_shape[0]}x{self.fixed_shape[1]}" if self.fixed_shape else ""
        where = "CPU" if self.format in CPU_ONLY_FORMATS else self.device.type.upper()
        LOGGER.info("Loaded %s (%s, %s on %s): %d classes, stride %d%s", path, self.format, self.precision, where,
                    len(self.names), self.stride, fixed)  # fmt: skip

    # -- loaders: each sets its runtime handle and returns the metadata dict ---------------------------------
    def _load_pt(self, path: Path) -> dict:
        from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

        parser_logger = logging.getLogger("models.parser")  # the layer table is for building models, not loading them
        level = parser_logger.level
        parser_logger.setLevel(logging.WARNING)
        try:
            model = model_from_checkpoint(load_checkpoint(path))
        finally:
            parser_logger.setLevel(level)
        return self._adopt_model(model)

    def _adopt_model(self, model: nn.Module) -> dict:
        """Run a ``DetectionModel`` as a loaded checkpoint is run: fused, eval mode, channels-last, on the device."""
        model = model.for_inference(self.device)
        self.model = model.half() if self.fp16 else model
        return {"stride": int(model.stride.max()), "names": list(model.names)}

    def _load_torchscript(self, path: Path) -> dict:
        extra = {TORCHSCRIPT_METADATA: ""}
        try:
            with warnings.catch_warnings():  # "torch.jit.load is deprecated": true, but TorchScript files are in use
                warnings.simplefilter("ignore", FutureWarning)
                self.jit = torch.jit.load(str(path), _extra_files=extra, map_location=self.device).eval()
        except Exception as error:
            raise UserError(f"{path}: not a TorchScript file ({first_line(error)})") from None
        self.jit = self.jit.half() if self.fp16 else self.jit.float()
        metadata = _parse_json(extra[TORCHSCRIPT_METADATA], path) if extra[TORCHSCRIPT_METADATA] else {}
        if metadata.get("imgsz") and not metadata.get("dynamic", False):
            self.fixed_shape = (int(metadata["imgsz"][0]), int(metadata["imgsz"][1]))
        return metadata

    def _load_onnx(self, path: Path) -> dict:
        cuda = self.device.index or 0 if self.device.type == "cuda" else None
        return self._adopt_exported(open_exported(path, "onnx", cuda_index=cuda))

    def _load_executorch(self, path: Path) -> dict:
        """ExecuTorch's Python runtime (XNNPACK on the CPU); ``path`` is the folder or the ``.pte`` in it."""
        try:
            from executorch.runtime import Runtime
        except ImportError:
            raise UserError(f"{path}: running ExecuTorch programs needs executorch: pip install executorch") from None
        folder = path.parent if path.suffix == ".pte" else path
        programs = [path] if path.suffix == ".pte" else sorted(folder.glob("*.pte"))
        if len(programs) != 1:
            raise UserError(f"{folder}: expected one .pte file in the folder, found {len(programs)}")
        try:
            method = Runtime.get().load_program(programs[0]).load_method("forward")
        except Exception as error:
            raise UserError(f"{programs[0]}: ExecuTorch cannot load it ({first_line(error)})") from None
        self.executorch = method
        shape = list(method.metadata.input_tensor_meta(0).sizes())
        self.fixed_shape, self.fixed_batch = static_hw(shape), static_batch(shape)
        return read_yaml_metadata(folder / METADATA_YAML)

    def _load_cpu_runtime(self, path: Path) -> dict:
        """OpenVINO, NCNN or TFLite: CPU runtimes that choose their precision themselves (``--half`` asks)."""
        exported = open_exported(path, self.format, half=self._half_asked)
        self.precision = exported.precision
        return self._adopt_exported(exported)

    def _adopt_exported(self, exported: ExportedModel) -> dict:
        self.exported, self.fixed_shape, self.fixed_batch = exported, exported.fixed_shape, exported.fixed_batch
        return exported.metadata

    # -- inference ---------------------------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB 0..1 -> (B, N, 5 + nc) float32 decoded predictions (xywh pixels, obj, class probs)."""
        if self.fixed_batch is None or images.shape[0] == self.fixed_batch:
            return self._run(images)
        outputs = []  # a static graph takes exactly fixed_batch images: feed it chunks, the last one zero-padded
        for chunk in images.split(self.fixed_batch):
            count = chunk.shape[0]
            padding = chunk.new_zeros((self.fixed_batch - count, *chunk.shape[1:]))
            outputs.append(self._run(torch.cat((chunk, padding)) if len(padding) else chunk)[:count])
        return torch.cat(outputs)

    def _run(self, images: torch.Tensor) -> torch.Tensor:
        if self.cpu_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self._run_torch(images.float()).float()
        return self._run_torch(images)

    def _run_torch(self, images: torch.Tensor) -> torch.Tensor:
        if self.format == "executorch":
            return self.executorch.execute([images.detach().float().cpu().contiguous()])[0].to(images.device)
        if self.format == "pt":
            return self.model(images.half() if self.fp16 else images.float())[0].float()
        if self.format == "torchscript":
            return self.jit(images.half() if self.fp16 else images.float()).float()
        return torch.from_numpy(self.exported.run(images.detach().cpu().numpy())).to(images.device)

    def warmup(self, imgsz: tuple[int, int]) -> None:
        """One forward pass on zeros, so the first real image's timing excludes lazy initialisation."""
        with torch.no_grad():
            self.forward(torch.zeros(1, 3, *imgsz, device=self.device))

    def _num_classes(self) -> int:
        """Class count from the output width, used only when the file carries no names."""
        size = self.fixed_shape or (self.stride * 2, self.stride * 2)
        with torch.no_grad():
            return int(self.forward(torch.zeros(1, 3, *size, device=self.device)).shape[-1]) - 5


def _refuse_coreml(path: Path) -> dict:
    raise UserError(f"{path}: CoreML models run on Apple devices (macOS, iOS) only; on this machine use the ONNX, "
                    "OpenVINO, NCNN, TFLite or ExecuTorch export")  # fmt: skip


def _parse_json(text: str | bytes, path: Path) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: metadata {TORCHSCRIPT_METADATA} is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: metadata {TORCHSCRIPT_METADATA} must be a JSON object")
    return data
