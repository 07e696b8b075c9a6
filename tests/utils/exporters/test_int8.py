"""export.py --int8: ONNX Runtime QDQ, NNCF OpenVINO and PT2E/litert-torch TFLite quantization, the Detect head left
in float.

Fast tests quantize the seeded untrained yolov5n at 64 px on a few shapes images and read the written graphs
(which convolutions get integer inputs, what the metadata says); the slow test scores a trained model's INT8 files
against its float32 ONNX file with val.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

import export
import val
from models.yolo import DetectionModel
from tests.helpers import ROOT, require_module
from utils.exporters.head_scope import head_prefix
from utils.inference.backends import DetectMultiBackend

SIZE = 64
HEAD = "/model/model.24/"  # yolov5n's Detect is row 24
OUTPUT_CHANNELS = 3 * (5 + 3)  # three anchors per level, box + objectness + three classes


def int8_export(weights: Path, data_yaml: Path, folder: Path, formats: tuple[str, ...], size: int = SIZE,
                images: int = 8) -> Path:  # fmt: skip
    """``export.py --int8`` end to end, in a fresh interpreter, which also keeps torchao's and litert-torch's native
    thread pools out of the suite's process. (The SIGSEGV once blamed on them was OpenVINO's per-Core signal stack,
    fixed by ``utils.inference.openvino_runtime.shared_core``.)"""
    folder.mkdir(parents=True, exist_ok=True)
    copy = shutil.copy(weights, folder / "best.pt")
    argv = ["--weights", str(copy), "--include", *formats, "--imgsz", str(size), "--int8", "--data", str(data_yaml),
            "--int8-images", str(images)]  # fmt: skip
    done = subprocess.run([sys.executable, str(ROOT / "export.py"), *argv], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(copy)


@pytest.fixture(scope="module")
def quantized(untrained_weights: Path, shapes_yaml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    formats = ("onnx", "openvino", "tflite") if _has_litert() else ("onnx", "openvino")
    return int8_export(untrained_weights, shapes_yaml, tmp_path_factory.mktemp("int8"), formats)


def _has_litert() -> bool:
    """Whether the TFLite converter and runtime (requirements-export.txt) are here; CI must have them."""
    try:
        require_module("litert_torch", "litert-torch", "the TFLite INT8 tests")
        require_module("ai_edge_litert", "ai-edge-litert", "the TFLite INT8 tests")
    except pytest.skip.Exception:
        return False
    return True


def test_the_head_prefix_names_the_detect_row():
    assert head_prefix(DetectionModel("yolov5n.yaml", nc=3, verbose=False)) == HEAD
    assert head_prefix(DetectionModel("yolov5s-efficientnet-b0.yaml", nc=3, verbose=False)).startswith("/model/model.")


def test_onnx_int8_quantizes_every_convolution_but_the_heads(quantized: Path):
    proto = onnx.load(str(quantized.parent / "best_int8.onnx"))
    dequantized = {output for node in proto.graph.node if node.op_type == "DequantizeLinear" for output in node.output}
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    weights = {tensor.name: tensor for tensor in proto.graph.initializer}
    head = [conv for conv in convs if conv.name.startswith(HEAD)]
    body = [conv for conv in convs if not conv.name.startswith(HEAD)]
    assert len(head) == 3 and len(body) == 57
    for conv in head:  # float weights of the 24 output channels (its input is the neck's, rounded like all others)
        assert conv.input[1] not in dequantized
        assert weights[conv.input[1]].dims[0] == OUTPUT_CHANNELS and weights[conv.input[1]].data_type == 1
    assert all(conv.input[0] in dequantized and conv.input[1] in dequantized for conv in body)
    rounded = [node.input[0] for node in proto.graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert rounded and not [tensor for tensor in rounded if tensor.startswith(HEAD)]  # nothing the head computes
    assert {p.key: p.value for p in proto.metadata_props}["precision"] == "int8"


def test_openvino_int8_quantizes_every_convolution_but_the_heads(quantized: Path):
    from utils.inference.openvino_runtime import shared_core

    model = shared_core().read_model(str(quantized.parent / "best_int8_openvino_model" / "best_int8.xml"))
    convs = [op for op in model.get_ops() if op.get_type_name() == "Convolution"]
    integer_fed = {op.get_friendly_name() for op in convs if _fed_by_fake_quantize(op.input_value(0).get_node())}
    head = {op.get_friendly_name() for op in convs if op.get_friendly_name().startswith(HEAD)}
    assert len(head) == 3 and len(convs) == 60
    assert integer_fed == {op.get_friendly_name() for op in convs} - head
    metadata = (quantized.parent / "best_int8_openvino_model" / "metadata.yaml").read_text()
    assert "precision: int8" in metadata


def test_tflite_int8_quantizes_every_convolution_but_the_heads(quantized: Path):
    """Read from the interpreter: the body's 57 convolutions take int8 inputs and int8 weights, the head's 3 take
    float32 ones with the 24 output channels; the input is int8 with the scale of 8-bit pixels or finer."""
    if not _has_litert():
        pytest.skip("litert-torch/ai-edge-litert not installed")
    from ai_edge_litert.interpreter import Interpreter

    from utils.inference.model_files import tflite_metadata

    path = quantized.parent / "best_int8.tflite"
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    kinds = [tuple(tensors[op["inputs"][i]]["dtype"].__name__ for i in (0, 1)) for op in convs]
    assert kinds.count(("int8", "int8")) == 57 and kinds.count(("float32", "float32")) == 3 and len(kinds) == 60
    head = [tensors[op["inputs"][1]] for op, kind in zip(convs, kinds) if kind == ("float32", "float32")]
    assert all("Detect" in weight["name"] and weight["shape"][0] == OUTPUT_CHANNELS for weight in head)
    model_input = interpreter.get_input_details()[0]
    scale, zero_point = model_input["quantization"]
    assert model_input["dtype"].__name__ == "int8" and 0 < scale <= 1.01 / 255 and zero_point == -128
    assert interpreter.get_output_details()[0]["dtype"].__name__ == "float32"
    assert tflite_metadata(path)["precision"] == "int8"


def _fed_by_fake_quantize(node) -> bool:
    """Whether every path into ``node``'s output starts at a FakeQuantize, through ops that move values without
    computing new ones (Concat, MaxPool, Interpolate)."""
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        return True
    if kind in ("Concat", "MaxPool", "Interpolate"):
        return all(
            _fed_by_fake_quantize(value.get_node()) for value in node.input_values()[: 1 if kind != "Concat" else None]
        )
    return False


@pytest.mark.parametrize("name", ["best_int8.onnx", "best_int8_openvino_model", "best_int8.tflite"])
def test_int8_files_load_and_stay_near_float(quantized: Path, name: str):
    """Boxes of the untrained model sit near their anchor priors: within a pixel of float32 on average."""
    if name.endswith(".tflite") and not _has_litert():
        pytest.skip("litert-torch/ai-edge-litert not installed")
    images = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    backend = DetectMultiBackend(quantized.parent / name)
    reference = DetectMultiBackend(quantized)
    assert backend.precision == "int8+f32" and backend.names == reference.names
    with torch.inference_mode():
        ours, theirs = backend(images), reference.model(images)[0]
    assert ours.shape == theirs.shape
    assert (ours[..., :4] - theirs[..., :4]).abs().mean() < 1.0
    assert (ours[..., 4:] - theirs[..., 4:]).abs().mean() < 0.02


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--int8 needs calibration images: add --data DATA.yaml"),
        (["--data", "x.yaml", "--half"], "--int8 and --half: choose one precision"),
        (["--data", "x.yaml", "--include", "ncnn"], "--int8 quantizes onnx, openvino and tflite only, not ncnn"),
        (["--data", "x.yaml", "--int8-images", "0"], "--int8-images 0: expected an integer of at least 1"),
        (["--data", "missing.yaml"], "missing.yaml"),
    ],
)
def test_int8_mistakes_are_one_line(untrained_weights: Path, tmp_path: Path, capsys, extra: list[str], message: str):
    weights = shutil.copy(untrained_weights, tmp_path / "best.pt")
    argv = ["--weights", str(weights), "--include", "onnx", "--imgsz", str(SIZE), "--int8", *extra]
    assert export.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # nothing written


@pytest.mark.slow
def test_int8_files_score_like_float(shapes_weights: Path, shapes_yaml: Path, tmp_path: Path):
    """The trained shapes detector at 160 px: no INT8 file loses more than 0.01 mAP@0.5:0.95 against the float32
    ONNX file fed the same square letterboxed batches (the acceptance bar of the INT8 issue), nor moves by more than
    0.03 either way. One-sided at 0.01: on 32 images a weak model's mAP moves by chance, and on an AVX512-VNNI CPU
    OpenVINO's INT8 file scored 0.014 above float32 (0.180 against 0.165)."""
    formats = ("onnx", "openvino", "tflite") if _has_litert() else ("onnx", "openvino")
    weights = int8_export(shapes_weights, shapes_yaml, tmp_path, formats, size=160, images=128)
    assert export.main(["--weights", str(weights), "--include", "onnx", "--imgsz", "160"]) == 0
    maps = {}
    names = ("best.onnx", "best_int8.onnx", "best_int8_openvino_model", "best_int8.tflite")
    for name in names[: len(formats) + 1]:
        argv = ["--weights", str(tmp_path / name), "--data", str(shapes_yaml), "--imgsz", "160", "--workers", "0",
                "--project", str(tmp_path / "val"), "--name", name]  # fmt: skip
        maps[name] = val.run(val.parse_args(argv))[0].map
    assert maps["best.onnx"] > 0.05, maps
    assert all(value > maps["best.onnx"] - 0.01 for value in maps.values()), maps
    assert all(abs(value - maps["best.onnx"]) < 0.03 for value in maps.values()), maps


def test_onnx_runtime_calibrates_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """ONNX Runtime's histogram calibrator holds every activation of every image it is given in one call; the
    images must reach it in equal chunks of at most MAX_CHUNK (yolov5s-efficientnet-b0 on 205 images in one call
    outgrew 24 GB), and every image must still be seen."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization.calibrate import HistogramCalibrater

    from utils.exporters.onnx_file import INPUT_NAME
    from utils.exporters.onnx_int8 import MAX_CHUNK, chunk_size, quantize_onnx

    assert [chunk_size(n) for n in (205, 300, 16, 7, 17, 1)] == [5, 15, 16, 7, 1, 1]
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", [INPUT_NAME, "w"], ["conv"], name="conv"), helper.make_node("Relu", ["conv"], ["y"])],
        "tiny", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [weight],
    )  # fmt: skip
    fp32 = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(fp32))
    chunks = []
    original = HistogramCalibrater.collect_data

    def counting(self, reader):
        before = reader.position
        original(self, reader)
        chunks.append(reader.position - before)

    monkeypatch.setattr(HistogramCalibrater, "collect_data", counting)
    batches = [rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(40)]
    quantize_onnx(fp32, tmp_path / "tiny_int8.onnx", batches, "/none/", {"stride": 8, "names": ["a"]})
    assert sum(chunks) == 40 and len(set(chunks)) == 1 and chunks[0] <= MAX_CHUNK and len(chunks) > 1
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(tmp_path / "tiny_int8.onnx")).graph.node)
