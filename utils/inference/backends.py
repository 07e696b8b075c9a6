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

Precision: float32 everywhere unless ``fp16`` is asked for. Then PyTorch, TorchScript and ONNX Runtime run float16 on
CUDA only (on the CPU they stay float32, with a note), and OpenVINO, which runs on the CPU, computes in bf16 where the
CPU has it (see :mod:`utils.inference.openvino_runtime`: its own default would be bf16 on such CPUs even without
``fp16``).
"""

from __future__ import annotations

import ast
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.class_names import names_list
from utils.errors import UserError

LOGGER = logging.getLogger(__name__)

DEFAULT_STRIDE = 32
TORCHSCRIPT_METADATA = "config.txt"  # the _extra_files key holding the JSON metadata
OPENVINO_METADATA = "metadata.yaml"
SUFFIXES = (".pt", ".torchscript", ".onnx", ".xml", "_openvino_model/")


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
    (the batch size a static ONNX/OpenVINO graph takes, else ``None``), ``format``
    (``"pt"``, ``"torchscript"``, ``"onnx"``, ``"openvino"``), ``fp16`` (float16 tensors are fed: CUDA only),
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
        self.format = "pt" if in_memory else _format_of(path)
        self.fp16 = fp16 and self.device.type == "cuda" and self.format != "openvino"
        self._half_asked = fp16
        if fp16 and not self.fp16 and self.format != "openvino":
            LOGGER.info("--half needs a CUDA device for %s; running in float32 on %s", self.format, self.device)
        self.precision = "f16" if self.fp16 else "f32"  # OpenVINO's loader sets its own
        self.model: nn.Module | None = None
        self.fixed_shape: tuple[int, int] | None = None
        self.fixed_batch: int | None = None
        if not in_memory and not path.exists():
            raise UserError(f"weights not found: {path}")
        loader = {"pt": self._load_pt, "torchscript": self._load_torchscript, "onnx": self._load_onnx,
                  "openvino": self._load_openvino}[self.format]  # fmt: skip
        metadata = self._adopt_model(weights) if in_memory else loader(path)
        if metadata.get("precision") == "int8":  # export.py --int8: integer layers, the head in self.precision
            self.precision = f"int8+{self.precision}"
        if not metadata.get("stride") or not metadata.get("names"):
            LOGGER.warning("%s: no stride/names metadata; assuming stride %d and names class0..", path, DEFAULT_STRIDE)
        self.stride = _metadata_stride(metadata.get("stride"), path)
        self.names = _metadata_names(metadata.get("names"), path) or [f"class{i}" for i in range(self._num_classes())]
        fixed = f", fixed input {self.fixed_shape[0]}x{self.fixed_shape[1]}" if self.fixed_shape else ""
        where = "CPU" if self.format == "openvino" else self.device.type.upper()
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
            raise UserError(f"{path}: not a TorchScript file ({_first_line(error)})") from None
        self.jit = self.jit.half() if self.fp16 else self.jit.float()
        metadata = _parse_json(extra[TORCHSCRIPT_METADATA], path) if extra[TORCHSCRIPT_METADATA] else {}
        if metadata.get("imgsz") and not metadata.get("dynamic", False):
            self.fixed_shape = (int(metadata["imgsz"][0]), int(metadata["imgsz"][1]))
        return metadata

    def _load_onnx(self, path: Path) -> dict:
        import onnxruntime

        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": self.device.index or 0}))
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers)
        except Exception as error:
            raise UserError(f"{path}: onnxruntime cannot load it ({_first_line(error)})") from None
        model_input = self.session.get_inputs()[0]
        self.input_name, self.output_name = model_input.name, self.session.get_outputs()[0].name
        self.input_dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
        self.fixed_shape = _static_hw(model_input.shape)
        self.fixed_batch = _static_batch(model_input.shape)
        props = self.session.get_modelmeta().custom_metadata_map
        return {"stride": props.get("stride"), "names": props.get("names"), "precision": props.get("precision")}

    def _load_openvino(self, path: Path) -> dict:
        import openvino

        from utils.inference.openvino_runtime import choose_precision, compile_for_cpu

        xml = path if path.suffix == ".xml" else _single_xml(path)
        core = openvino.Core()
        try:
            model = core.read_model(str(xml))
        except Exception as error:
            raise UserError(f"{xml}: OpenVINO cannot read it ({_first_line(error)})") from None
        shape = model.input(0).get_partial_shape()
        if shape.is_static:
            self.fixed_shape = _static_hw(list(shape.to_shape()))
        if shape[0].is_static:
            self.fixed_batch = shape[0].get_length()
        self.precision = choose_precision(core, self._half_asked)
        self.compiled = compile_for_cpu(core, model, self.precision)
        sidecar = xml.parent / OPENVINO_METADATA
        if not sidecar.is_file():
            return {}
        from utils.yaml_io import read_yaml_mapping

        return read_yaml_mapping(sidecar, "OpenVINO metadata")

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
        if self.format == "pt":
            return self.model(images.half() if self.fp16 else images.float())[0].float()
        if self.format == "torchscript":
            return self.jit(images.half() if self.fp16 else images.float()).float()
        array = images.detach().cpu().numpy()
        if self.format == "onnx":
            output = self.session.run([self.output_name], {self.input_name: array.astype(self.input_dtype)})[0]
        else:
            output = self.compiled(array.astype(np.float32))[self.compiled.output(0)]
        return torch.from_numpy(np.asarray(output, dtype=np.float32)).to(images.device)

    def warmup(self, imgsz: tuple[int, int]) -> None:
        """One forward pass on zeros, so the first real image's timing excludes lazy initialisation."""
        with torch.no_grad():
            self.forward(torch.zeros(1, 3, *imgsz, device=self.device))

    def _num_classes(self) -> int:
        """Class count from the output width, used only when the file carries no names."""
        size = self.fixed_shape or (self.stride * 2, self.stride * 2)
        with torch.no_grad():
            return int(self.forward(torch.zeros(1, 3, *size, device=self.device)).shape[-1]) - 5


def _format_of(path: Path) -> str:
    name = str(path).rstrip("/\\")
    if name.endswith(".pt"):
        return "pt"
    if name.endswith(".torchscript"):
        return "torchscript"
    if name.endswith(".onnx"):
        return "onnx"
    if name.endswith(".xml") or name.endswith("_openvino_model") or (path.is_dir() and any(path.glob("*.xml"))):
        return "openvino"
    raise UserError(f"{path}: unknown model format (expected one of {', '.join(SUFFIXES)})")


def _single_xml(folder: Path) -> Path:
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 1:
        raise UserError(f"{folder}: expected one OpenVINO .xml file in the folder, found {len(xmls)}")
    return xmls[0]


def _static_hw(shape: list) -> tuple[int, int] | None:
    """(H, W) when the last two dims of an NCHW input shape are fixed integers, else None (dynamic)."""
    height, width = shape[-2], shape[-1]
    if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
        return height, width
    return None


def _static_batch(shape: list) -> int | None:
    """The batch size of an NCHW input shape when it is a fixed integer, else None."""
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


def _metadata_stride(stride: object, path: Path) -> int:
    """The largest stride from metadata (an int, or its text as ONNX stores it); missing: the default, 32."""
    if stride in (None, ""):
        return DEFAULT_STRIDE
    try:
        value = int(str(stride))
    except ValueError:
        raise UserError(f"{path}: metadata 'stride' must be a positive integer, found {stride!r:.40}") from None
    if value <= 0:
        raise UserError(f"{path}: metadata 'stride' must be a positive integer, found {value}")
    return value


def _metadata_names(names: object, path: Path) -> list[str]:
    """Class names from metadata: a list or an index-keyed dict, or either one as text (JSON or a Python literal)."""
    return names_list(_parse_literal(names, path) if isinstance(names, str) else names, path)


def _parse_literal(text: str, path: Path) -> object:
    """JSON first; then a Python literal (YOLOv5 writes ``str(dict)``), read with ``ast.literal_eval``, no eval."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UserError(f"{path}: unreadable metadata 'names' ({text[:60]!r}...)") from None


def _parse_json(text: str | bytes, path: Path) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: metadata {TORCHSCRIPT_METADATA} is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: metadata {TORCHSCRIPT_METADATA} must be a JSON object")
    return data


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]
