"""Exported model files read without torch: which format a path is, its metadata, and ONNX Runtime, OpenVINO, NCNN
and TFLite (LiteRT) sessions that take and return numpy arrays.

:class:`~utils.inference.backends.DetectMultiBackend` wraps these for the torch pipeline; the torch-free detect
path (:mod:`utils.deploy`) uses them directly, so this module imports only numpy, pyyaml and the runtime asked for.
The metadata contract is described in :mod:`utils.inference.backends`.
"""

from __future__ import annotations

import ast
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from utils.class_names import names_list
from utils.errors import UserError

DEFAULT_STRIDE = 32
METADATA_YAML = "metadata.yaml"  # beside an OpenVINO .xml or in an NCNN folder
OPENVINO_METADATA = METADATA_YAML
NCNN_PARAM, NCNN_BIN = "model.ncnn.param", "model.ncnn.bin"  # in <stem>_ncnn_model/
TFLITE_METADATA = "metadata.json"  # inside the zip archive appended to a .tflite file
MAX_METADATA_BYTES = 1 << 20
MISSING_METADATA = "%s: no stride/names metadata; assuming stride %d and names class0.."  # a logging format
SUFFIXES = (".pt", ".torchscript", ".onnx", ".xml", "_openvino_model/", "_ncnn_model/", ".tflite", "_executorch_model/",
            ".pte", ".mlpackage")  # fmt: skip
EXPORTED_FORMATS = ("onnx", "openvino", "ncnn", "tflite")  # what open_exported opens, none of them through torch
CPU_ONLY_FORMATS = ("openvino", "ncnn", "tflite", "executorch")  # runtimes that run on the CPU whatever --device says
CPU_HALF_FORMATS = ("openvino", "ncnn")  # runtimes with a reduced precision of their own on the CPU (bf16, float16)


@dataclass
class ExportedModel:
    """An ONNX Runtime session or a compiled OpenVINO model: ``run`` maps a ``(B, 3, H, W)`` float32 RGB 0..1
    array to the ``(B, N, 5 + nc)`` float32 decoded output. ``metadata``: the file's ``stride``, ``names`` and
    ``precision`` (``int8`` for a quantized file) as stored; ``precision`` here: what the runtime computes in.
    ``handle``: the ``onnxruntime.InferenceSession`` or OpenVINO ``CompiledModel`` itself."""

    format: str
    path: Path
    run_array: Any
    precision: str = "f32"
    fixed_shape: tuple[int, int] | None = None
    fixed_batch: int | None = None
    metadata: dict = field(default_factory=dict)
    handle: Any = None

    def run(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.run_array(images), dtype=np.float32)


def open_exported(
    path: Path, fmt: str, half: bool = False, cuda_index: int | None = None, threads: int | None = None
) -> ExportedModel:
    """Open ``path`` as ``fmt`` (one of :data:`EXPORTED_FORMATS`). ``half``: OpenVINO in bf16 where the CPU has it,
    NCNN with its float16 storage and arithmetic; ``cuda_index``: ONNX Runtime's CUDA provider on that GPU when it is
    installed; ``threads``: the runtime's intra-op CPU threads (its own default when None)."""
    if fmt == "onnx":
        return _open_onnx(path, cuda_index, threads)
    if fmt == "ncnn":
        return _open_ncnn(path, half, threads)
    if fmt == "tflite":
        return _open_tflite(path, threads)
    return _open_openvino(path, half, threads)


def _open_onnx(path: Path, cuda_index: int | None, threads: int | None) -> ExportedModel:
    import onnxruntime

    providers: list = ["CPUExecutionProvider"]
    if cuda_index is not None and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": cuda_index}))
    options = onnxruntime.SessionOptions()
    # The memory pattern pre-plans buffers per input shape: off, a torch-free yolov5s at 640 px peaked at 182 MB
    # instead of 204, at no measured speed cost (benchmarks/results/deploy_memory.md).
    options.enable_mem_pattern = False
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    except Exception as error:
        raise UserError(f"{path}: onnxruntime cannot load it ({first_line(error)})") from None
    model_input = session.get_inputs()[0]
    input_name, output_name = model_input.name, session.get_outputs()[0].name
    dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
    props = session.get_modelmeta().custom_metadata_map
    return ExportedModel(
        "onnx", path, lambda images: session.run([output_name], {input_name: images.astype(dtype)})[0],
        fixed_shape=static_hw(model_input.shape), fixed_batch=static_batch(model_input.shape),
        metadata={key: props.get(key) for key in ("stride", "names", "precision")}, handle=session,
    )  # fmt: skip


def _open_openvino(path: Path, half: bool, threads: int | None) -> ExportedModel:
    from utils.inference.openvino_runtime import choose_precision, compile_for_cpu, shared_core

    xml = path if path.suffix == ".xml" else single_xml(path)
    core = shared_core()
    try:
        model = core.read_model(str(xml))
    except Exception as error:
        raise UserError(f"{xml}: OpenVINO cannot read it ({first_line(error)})") from None
    shape = model.input(0).get_partial_shape()
    fixed_shape = static_hw(list(shape.to_shape())) if shape.is_static else None
    fixed_batch = shape[0].get_length() if shape[0].is_static else None
    precision = choose_precision(core, half)
    properties = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"} if threads else None
    compiled = compile_for_cpu(core, model, precision, properties)
    output = compiled.output(0)
    metadata = read_yaml_metadata(xml.parent / METADATA_YAML)
    return ExportedModel("openvino", path, lambda images: compiled(images.astype(np.float32))[output], precision,
                         fixed_shape, fixed_batch, metadata, compiled)  # fmt: skip


def _open_ncnn(path: Path, half: bool, threads: int | None) -> ExportedModel:
    try:
        import ncnn
    except ImportError:
        raise UserError(f"{path}: running NCNN models needs the ncnn package: pip install ncnn") from None
    folder = path.parent if path.is_file() else path
    param, weights = folder / NCNN_PARAM, folder / NCNN_BIN
    if not param.is_file() or not weights.is_file():
        raise UserError(f"{folder}: an NCNN model folder holds {NCNN_PARAM} and {NCNN_BIN}; one is missing")
    net = ncnn.Net()
    for option in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"):  # NCNN's default: on where it can
        setattr(net.opt, option, half)
    if threads:
        net.opt.num_threads = threads
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise UserError(f"{folder}: ncnn cannot load {NCNN_PARAM}/{NCNN_BIN}")
    input_name, output_name = net.input_names()[0], net.output_names()[0]

    def run(images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in images.astype(np.float32):  # NCNN runs one image at a time
            extractor = net.create_extractor()
            extractor.input(input_name, ncnn.Mat(np.ascontiguousarray(image)))
            outputs.append(np.array(extractor.extract(output_name)[1]))
        return np.stack(outputs)

    metadata = read_yaml_metadata(folder / METADATA_YAML)
    imgsz = metadata.get("imgsz")  # the graph has its export size baked in and does not store it
    fixed_shape = static_hw(list(imgsz)) if isinstance(imgsz, list) and len(imgsz) == 2 else None
    return ExportedModel("ncnn", path, run, "f16" if half else "f32", fixed_shape, None, metadata, net)


def _open_tflite(path: Path, threads: int | None) -> ExportedModel:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise UserError(f"{path}: running TFLite models needs LiteRT: pip install ai-edge-litert") from None
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception as error:
        raise UserError(f"{path}: LiteRT cannot load it ({first_line(error)})") from None
    model_input, model_output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape = [int(size) for size in model_input["shape"]]

    to_input = _tflite_input(model_input)

    def run(images: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(model_input["index"], to_input(images))
        interpreter.invoke()
        return interpreter.get_tensor(model_output["index"]).copy()

    metadata = tflite_metadata(path)
    return ExportedModel("tflite", path, run, "f32", static_hw(shape), static_batch(shape), metadata, interpreter)


def _tflite_input(details: dict):
    """images -> what the interpreter's input takes: float as is, or an integer input (``export.py --int8``)
    quantized with its stored scale and zero point."""
    dtype = details["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return lambda images: images.astype(dtype)
    scale, zero_point = details["quantization"]
    low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
    return lambda images: np.clip(np.round(images / scale) + zero_point, low, high).astype(dtype)


def tflite_metadata(path: Path) -> dict:
    """The ``metadata.json`` of the zip archive appended to a ``.tflite`` file; ``{}`` when there is none."""
    if not zipfile.is_zipfile(path):
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(TFLITE_METADATA)
            if info.file_size > MAX_METADATA_BYTES:
                raise UserError(f"{path}: metadata of {info.file_size} bytes; at most {MAX_METADATA_BYTES} are read")
            data = json.loads(archive.read(info))
    except KeyError:
        return {}
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: unreadable {TFLITE_METADATA} ({first_line(error)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: {TFLITE_METADATA} must be a JSON object")
    return data


def read_yaml_metadata(path: Path) -> dict:
    if not path.is_file():
        return {}
    from utils.yaml_io import read_yaml_mapping

    return read_yaml_mapping(path, "model metadata")


def precision_label(precision: str, metadata: dict) -> str:
    """What a loaded model computes in, as logs print it: ``int8+`` before the float precision of its head for a
    file ``export.py --int8`` wrote (its metadata says ``precision: int8``)."""
    return f"int8+{precision}" if metadata.get("precision") == "int8" else precision


def format_of(path: Path) -> str:
    name = str(path).rstrip("/\\")
    if name.endswith(".pt"):
        return "pt"
    if name.endswith(".torchscript"):
        return "torchscript"
    if name.endswith(".onnx"):
        return "onnx"
    if name.endswith(".tflite"):
        return "tflite"
    if name.endswith(".mlpackage"):
        return "coreml"
    if name.endswith((".pte", "_executorch_model")):
        return "executorch"
    if name.endswith(("_ncnn_model", ".ncnn.param")) or (path.is_dir() and (path / NCNN_PARAM).is_file()):
        return "ncnn"
    if name.endswith(".xml") or name.endswith("_openvino_model") or (path.is_dir() and any(path.glob("*.xml"))):
        return "openvino"
    raise UserError(f"{path}: unknown model format (expected one of {', '.join(SUFFIXES)})")


def single_xml(folder: Path) -> Path:
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 1:
        raise UserError(f"{folder}: expected one OpenVINO .xml file in the folder, found {len(xmls)}")
    return xmls[0]


def static_hw(shape: list) -> tuple[int, int] | None:
    """(H, W) when the last two dims of an NCHW input shape are fixed integers, else None (dynamic)."""
    height, width = shape[-2], shape[-1]
    if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
        return height, width
    return None


def static_batch(shape: list) -> int | None:
    """The batch size of an NCHW input shape when it is a fixed integer, else None."""
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


def metadata_stride(stride: object, path: Path) -> int:
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


def metadata_names(names: object, path: Path) -> list[str]:
    """Class names from metadata: a list or an index-keyed dict, or either one as text (JSON or a Python literal)."""
    return names_list(parse_literal(names, path) if isinstance(names, str) else names, path)


def parse_literal(text: str, path: Path) -> object:
    """JSON first; then a Python literal (YOLOv5 writes ``str(dict)``), read with ``ast.literal_eval``, no eval."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UserError(f"{path}: unreadable metadata 'names' ({text[:60]!r}...)") from None


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]
