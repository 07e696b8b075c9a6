"""utils.exporters: every format written to the backends' contract and equal to PyTorch, static and dynamic.

Fast tests export random-initialised models at 64 px whose BatchNorm layers have random affine weights and
statistics measured on random images (so fusing is really exercised; fully random statistics blow CSPDarknet53's
features up to ~1e3), compared with float64 PyTorch: yolov5n and yolov5s-efficientnet-b0 (timm), plus
yolov5s-cspdarknet53 (timm) in the slow set, to TorchScript, ONNX and OpenVINO, static and dynamic. The slow test
exports every shipped config (default init) to ONNX at 64 px, static, and dynamic run at 96x64.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.yolo import CONFIG_DIR, DetectionModel
from tests.helpers import assert_as_exact_as_pytorch, fused_model, require_module
from utils.errors import UserError
from utils.exporters import ExportOptions, check_images, export_model
from utils.inference.backends import DetectMultiBackend

NAMES = ["circle", "rectangle", "triangle"]
SIZE = 64


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize(
    "cfg",
    ["yolov5n", "yolov5s-efficientnet-b0", "yolov7-tiny", pytest.param("yolov5s-cspdarknet53", marks=pytest.mark.slow)],
)
def test_every_format_matches_pytorch(cfg: str, dynamic: bool, tmp_path: Path) -> None:
    model = fused_model(cfg)
    formats = ["openvino", "onnx", "torchscript"]
    results = export_model(model, NAMES, tmp_path / "best", ExportOptions(formats, SIZE, dynamic=dynamic), check=False)
    assert [r.format for r in results] == ["torchscript", "onnx", "openvino"]
    assert [r.path.name for r in results] == ["best.torchscript", "best.onnx", "best_openvino_model"]
    assert sorted(p.name for p in (tmp_path / "best_openvino_model").iterdir()) == ["best.bin", "best.xml",
                                                                                      "metadata.yaml"]  # fmt: skip
    other = torch.rand(2, 3, SIZE, SIZE + 32, generator=torch.Generator().manual_seed(1))  # another batch and width
    for result in results:
        backend = DetectMultiBackend(result.path)
        assert (backend.stride, backend.names) == (32, NAMES)
        assert backend.fixed_shape == (None if dynamic else (SIZE, SIZE))
        assert_as_exact_as_pytorch(result.path, model, check_images((SIZE, SIZE)))
        if dynamic:
            assert_as_exact_as_pytorch(result.path, model, other)


def test_metadata_follows_the_backends_contract(tmp_path: Path) -> None:
    import onnx
    import yaml

    options = ExportOptions(["torchscript", "onnx", "openvino"], [64, 96])
    export_model(fused_model("yolov5n"), NAMES, tmp_path / "m", options, check=False)
    extra = {"config.txt": ""}
    torch.jit.load(str(tmp_path / "m.torchscript"), _extra_files=extra)
    expected = {"stride": 32, "names": NAMES, "imgsz": [64, 96], "dynamic": False}
    assert json.loads(extra["config.txt"]) == expected
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props == {"stride": "32", "names": json.dumps(NAMES)}
    assert yaml.safe_load((tmp_path / "m_openvino_model" / "metadata.yaml").read_text()) == expected


def test_onnx_uses_the_torchscript_exporter_without_onnxscript(tmp_path: Path, monkeypatch) -> None:
    """The exporter path is chosen on purpose: ``dynamo=False``, which works without the onnxscript package."""
    calls = []  # the keyword arguments of every torch.onnx.export call
    original = torch.onnx.export

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", spy)
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # `import onnxscript` now fails, as on a clean install
    options = ExportOptions(["onnx"], SIZE, opset=13, simplify=True)
    results = export_model(fused_model("yolov5n"), NAMES, tmp_path / "m", options)
    assert calls and all(kwargs["dynamo"] is False for kwargs in calls)
    assert calls[0]["opset_version"] == 13 and results[0].passed
    import onnx

    assert {o.version for o in onnx.load(str(tmp_path / "m.onnx")).opset_import if o.domain in ("", "ai.onnx")} == {13}


def test_openvino_half_stores_float16_weights(tmp_path: Path) -> None:
    model = fused_model("yolov5n")
    full = export_model(model, NAMES, tmp_path / "f32", ExportOptions(["openvino"], SIZE))[0]
    half = export_model(model, NAMES, tmp_path / "f16", ExportOptions(["openvino"], SIZE, half=True))[0]
    size_32 = (full.path / "f32.bin").stat().st_size
    size_16 = (half.path / "f16.bin").stat().st_size
    assert 0.4 < size_16 / size_32 < 0.6
    assert half.passed and 0 < half.max_abs_diff < 5.0  # printed, not judged; boxes of up to ~1,400 px here


def test_check_images_are_letterboxed(tmp_path: Path) -> None:
    import cv2

    images = check_images((64, 96), batch_size=2)
    assert images.shape == (2, 3, 64, 96) and images.dtype == torch.float32
    assert 0 <= float(images.min()) and float(images.max()) <= 1 and torch.equal(images[0], images[1])
    photo = np.zeros((50, 100, 3), np.uint8)
    photo[..., 2] = 255  # red in BGR
    cv2.imwrite(str(tmp_path / "red.png"), photo)
    image = check_images((64, 64), image=tmp_path / "red.png")[0]
    assert torch.allclose(image[:, 32, 32], torch.tensor([1.0, 0.0, 0.0]))  # RGB, red inside
    assert torch.allclose(image[:, 0, 32], torch.full((3,), 114 / 255))  # grey padding above
    with pytest.raises(UserError, match="--check-image"):
        check_images((64, 64), image=tmp_path / "missing.jpg")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"include": ["paddle"]}, "--include paddle: choose from torchscript, onnx, openvino, engine, ncnn, tflite"),
        ({"imgsz": 100}, r"--imgsz 100: must be a multiple of the model's stride 32 \(try 128\)"),
        ({"imgsz": [64, 64, 64]}, "give one positive size, or a height and a width"),
        ({"batch_size": 0}, "--batch-size 0"),
        ({"include": ["onnx"], "half": True}, "--half for torchscript/onnx needs a CUDA device"),
        ({"include": ["engine"]}, "--include engine needs a CUDA device"),
        ({"include": ["onnx"], "opset": 99}, "--opset 99"),
    ],
)
def test_user_mistakes_are_one_line(kwargs: dict, message: str, tmp_path: Path) -> None:
    arguments = {"include": ["onnx"], "imgsz": SIZE, **kwargs}
    with pytest.raises(UserError, match=message):
        export_model(fused_model("yolov5n"), NAMES, tmp_path / "m", ExportOptions(**arguments))


ALL_FORMATS = ["torchscript", "onnx", "openvino"]


@pytest.mark.parametrize(
    "formats",
    [
        pytest.param(["onnx"], marks=pytest.mark.slow, id="onnx"),
        # 6 minutes on 2 cores for all configs: left out of the default run, ``pytest -m exhaustive`` runs it
        pytest.param(ALL_FORMATS, marks=pytest.mark.exhaustive, id="every-format"),
    ],
)
@pytest.mark.parametrize("cfg", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
def test_every_shipped_config_exports(cfg: str, formats: list[str], tmp_path: Path) -> None:
    """Static at 64 px, and dynamic run at 96x64, each as exact as PyTorch float32 (default init)."""
    model = DetectionModel(f"{cfg}.yaml", nc=len(NAMES), verbose=False).fuse().eval()
    for dynamic, images in ((False, check_images((SIZE, SIZE))), (True, check_images((SIZE + 32, SIZE)))):
        folder = tmp_path / ("dynamic" if dynamic else "static")
        results = export_model(model, NAMES, folder, ExportOptions(formats, SIZE, dynamic=dynamic), check=False)
        assert [r.format for r in results] == formats
        for result in results:
            assert_as_exact_as_pytorch(result.path, model, images)


@pytest.mark.exhaustive
@pytest.mark.parametrize("cfg", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
def test_every_shipped_config_exports_to_phone_formats(cfg: str, tmp_path: Path) -> None:
    """NCNN and TFLite (static only) at 64 px, as exact as PyTorch float32 (default init)."""
    require_module("pnnx", "pnnx", "the NCNN export matrix")
    require_module("litert_torch", "litert-torch", "the TFLite export matrix")
    model = DetectionModel(f"{cfg}.yaml", nc=len(NAMES), verbose=False).fuse().eval()
    results = export_model(model, NAMES, tmp_path / "best", ExportOptions(["ncnn", "tflite"], SIZE), check=False)
    assert [r.format for r in results] == ["ncnn", "tflite"]
    for result in results:
        assert_as_exact_as_pytorch(result.path, model, check_images((SIZE, SIZE)))
