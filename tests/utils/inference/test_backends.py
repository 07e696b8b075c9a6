"""DetectMultiBackend: every format loads with its metadata and gives the boxes the PyTorch checkpoint gives.

The exported files are written here the way the export code must write them (the contract in
utils/inference/backends.py).
ONNX uses the TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs onnxscript, not installed.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
from utils.errors import UserError
from utils.inference.backends import DetectMultiBackend, decoded_only, export_metadata
from utils.inference.predict import detect_image

SIZE = 160
NAMES = ["circle", "rectangle", "triangle"]


def _wrapped(weights: Path) -> torch.nn.Module:
    model = model_from_checkpoint(load_checkpoint(weights)).fuse().eval()
    return decoded_only(model).eval()


def write_torchscript(weights: Path, path: Path) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(_wrapped(weights), torch.zeros(1, 3, SIZE, SIZE), check_trace=False)
        meta = export_metadata(32, NAMES, (SIZE, SIZE))
        traced.save(str(path), _extra_files={"config.txt": json.dumps(meta)})
    return path


def write_onnx(weights: Path, path: Path, dynamic: bool = True) -> Path:
    import onnx

    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 1: "anchors"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _wrapped(weights),
            (torch.zeros(1, 3, SIZE, SIZE),),
            str(path),
            dynamo=False,  # the TorchScript-based exporter; the dynamo one needs onnxscript
            input_names=["images"],
            output_names=["output0"],
            opset_version=17,
            dynamic_axes=axes if dynamic else None,
        )
    model = onnx.load(str(path))
    for key, value in {"stride": "32", "names": json.dumps(NAMES)}.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(path))
    return path


def write_openvino(onnx_path: Path, folder: Path) -> Path:
    import openvino

    folder.mkdir(parents=True, exist_ok=True)
    model = openvino.convert_model(str(onnx_path), input=[1, 3, SIZE, SIZE])
    openvino.save_model(model, str(folder / "model.xml"), compress_to_fp16=False)
    (folder / "metadata.yaml").write_text(f"stride: 32\nnames: {json.dumps(NAMES)}\n")
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained yolov5n checkpoint whose BatchNorm layers are randomised: its scores spread (a real ranking for
    the box comparisons, unlike the initial head's near-constant ones) and Conv+BN folding is exercised; the head's
    weights are scaled up so the logits depend on the image. Built in a second."""
    from models.yolo import DetectionModel
    from tests.helpers import SHAPES_NAMES, randomise_batchnorm, write_checkpoint

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DetectionModel("configs/models/yolov5n.yaml", nc=len(SHAPES_NAMES), verbose=False)
    randomise_batchnorm(model)
    with torch.no_grad():
        for conv in model.head.m:  # logits that depend on the image, not only on the head's prior biases
            conv.weight.mul_(10)
    return write_checkpoint(model, SHAPES_NAMES, tmp_path_factory.mktemp("weights") / "random.pt")


@pytest.fixture(scope="module")
def exports(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Lazily written exports, one per format, shared by the tests of this module."""
    return {"dir": tmp_path_factory.mktemp("exports"), "weights": weights}


@pytest.fixture(scope="module")
def reference(weights: Path) -> DetectMultiBackend:
    """The PyTorch checkpoint every other format is compared with."""
    return DetectMultiBackend(weights)


def _export(exports: dict, fmt: str) -> Path:
    if fmt not in exports:
        folder, weights = exports["dir"], exports["weights"]
        if fmt == "torchscript":
            exports[fmt] = write_torchscript(weights, folder / "model.torchscript")
        elif fmt == "onnx":
            exports[fmt] = write_onnx(weights, folder / "model.onnx")
        elif fmt == "onnx_static":
            exports[fmt] = write_onnx(weights, folder / "static.onnx", dynamic=False)
        elif fmt == "openvino":
            exports[fmt] = write_openvino(_export(exports, "onnx_static"), folder / "model_openvino_model")
    return exports[fmt]


def _square_image() -> np.ndarray:
    """A 160x160 image with a few shapes: letterboxing leaves it unchanged for every back end."""
    image = np.full((SIZE, SIZE, 3), 90, np.uint8)
    cv2.circle(image, (50, 50), 25, (0, 0, 255), -1)
    cv2.rectangle(image, (90, 80), (140, 150), (0, 255, 0), -1)
    return image


def test_pt_backend_metadata(reference: DetectMultiBackend) -> None:
    backend = reference
    assert (backend.format, backend.stride, backend.names, backend.fixed_shape) == ("pt", 32, NAMES, None)
    output = backend(torch.rand(2, 3, 64, 96))
    assert output.shape == (2, 3 * (8 * 12 + 4 * 6 + 2 * 3), 5 + 3) and output.dtype == torch.float32


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "onnx_static", "openvino"])
def test_backend_matches_pt(fmt: str, exports: dict, reference: DetectMultiBackend) -> None:
    backend = DetectMultiBackend(_export(exports, fmt))
    assert (backend.format, backend.stride, backend.names) == (fmt.split("_")[0], 32, NAMES)
    assert backend.fixed_shape == (None if fmt == "onnx" else (SIZE, SIZE))
    images = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(backend(images), reference(images), atol=1e-3, rtol=1e-4)
    image = _square_image()
    expected, _, _ = detect_image(reference, image, (SIZE, SIZE), conf_thres=0.05, max_det=1000)
    actual, _, shape = detect_image(backend, image, (SIZE, SIZE), conf_thres=0.05, max_det=1000)
    assert shape == (1, 3, SIZE, SIZE) and len(expected) > 5
    by_box = np.lexsort(expected.T[::-1]), np.lexsort(actual.T[::-1])  # near-equal scores may come in either order
    np.testing.assert_allclose(actual[by_box[1]], expected[by_box[0]], atol=1e-3)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_threads_reach_the_runtime(fmt: str, exports: dict) -> None:
    """``open_exported(threads=N)`` sets the runtime's own intra-op thread count, read back from the runtime."""
    from utils.inference.model_files import open_exported

    path = _export(exports, fmt)
    for threads in (1, 2):
        handle = open_exported(path, fmt, threads=threads).handle
        if fmt == "onnx":
            assert handle.get_session_options().intra_op_num_threads == threads
        else:
            assert handle.get_property("INFERENCE_NUM_THREADS") == threads


def test_onnx_runs_without_the_memory_pattern(exports: dict) -> None:
    """The session's own options say the memory pattern is off (20 MB less peak memory for a detect process)."""
    from utils.inference.model_files import open_exported

    session = open_exported(_export(exports, "onnx"), "onnx").handle
    assert session.get_session_options().enable_mem_pattern is False


def test_dynamic_onnx_takes_other_sizes(exports: dict) -> None:
    backend = DetectMultiBackend(_export(exports, "onnx"))
    assert backend(torch.rand(1, 3, 64, 128)).shape == (1, 3 * (8 * 16 + 4 * 8 + 2 * 4), 8)


def test_onnx_without_metadata_warns_and_numbers_classes(
    exports: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import onnx

    model = onnx.load(str(_export(exports, "onnx")))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with caplog.at_level(logging.WARNING):
        backend = DetectMultiBackend(tmp_path / "bare.onnx")
    assert backend.names == ["class0", "class1", "class2"] and backend.stride == 32
    assert "no stride/names metadata" in caplog.text


def test_yolov5_style_names_are_read_without_eval(tmp_path: Path) -> None:
    from utils.inference.model_files import metadata_names as _metadata_names

    assert _metadata_names("{0: 'person', 1: 'car'}", tmp_path) == ["person", "car"]
    assert _metadata_names('{"1": "car", "0": "person"}', tmp_path) == ["person", "car"]
    with pytest.raises(UserError, match="unreadable metadata"):
        _metadata_names("__import__('os').system('true')", tmp_path)


@pytest.mark.parametrize("name", ["missing.pt", "missing.onnx", "missing_openvino_model"])
def test_missing_weights(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match="weights not found"):
        DetectMultiBackend(tmp_path / name)


def test_unknown_format_and_broken_files(tmp_path: Path) -> None:
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(UserError, match="unknown model format"):
        DetectMultiBackend(tmp_path / "model.h5")
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    with pytest.raises(UserError, match="broken.onnx: onnxruntime cannot load it"):
        DetectMultiBackend(tmp_path / "broken.onnx")
    (tmp_path / "broken.torchscript").write_bytes(b"not torchscript")
    with pytest.raises(UserError, match="not a TorchScript file"):
        DetectMultiBackend(tmp_path / "broken.torchscript")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True), ("fpu avx2 amx_bf16 amx_tile", True),
     ("fpu sse avx2 avx512f avx512_vnni", False), ("", False)],
)  # fmt: skip
def test_cpu_bf16_is_read_from_the_flags(flags: str, expected: bool):
    from utils.device import cpu_has_bf16

    assert cpu_has_bf16(f"processor\t: 0\nflags\t\t: {flags}\n") is expected


def test_half_on_a_bf16_cpu_autocasts_the_checkpoint(untrained_weights: Path, monkeypatch, caplog):
    """--half on the CPU: bf16 autocast where the CPU has it (forced here: any CPU runs it, if slowly), a note and
    float32 where it does not; bf16 (8 bits of mantissa) keeps boxes within 1% + a pixel of float32."""
    import utils.inference.backends as backends

    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    reference = DetectMultiBackend(untrained_weights, "cpu")
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.INFO):
        plain = DetectMultiBackend(untrained_weights, "cpu", fp16=True)
    assert plain.precision == "f32" and "AVX512-BF16/AMX); running in float32" in caplog.text
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: True)
    bf16 = DetectMultiBackend(untrained_weights, "cpu", fp16=True)
    assert bf16.precision == "bf16" and not bf16.fp16
    with torch.inference_mode():
        expected, actual = reference(images), bf16(images)
    assert actual.dtype == torch.float32 and not torch.equal(actual, expected)  # it really ran in bf16
    assert ((actual[..., :4] - expected[..., :4]).abs() <= 1.0 + 0.01 * expected[..., :4].abs()).all()
    assert (actual[..., 4:] - expected[..., 4:]).abs().max() < 0.01
