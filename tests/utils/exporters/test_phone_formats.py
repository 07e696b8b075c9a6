"""export.py --include ncnn tflite coreml executorch: pnnx/NCNN, litert-torch/LiteRT and ExecuTorch files run here by
their own runtimes; CoreML converted and its spec read back (it runs on Apple devices only).

Random-weight models (calibrated BatchNorm, fused) at 64 px against a float64 PyTorch run, as the other formats are
in test_exporters.py: yolov5n, EfficientNet-B0 and a timm MobileNetV3 swap. Then the bad-input paths: a missing
converter or runtime names its package, a converter's failure arrives as one line, and the TFLite metadata archive
is read back, or refused when it is not what it should be. The trained-model checks (detect.py boxes, val.py mAP)
are in tests/test_export.py.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.helpers import EXPORT_SIZE, SHAPES_NAMES, assert_as_exact_as_pytorch, fused_model, require_module
from utils.errors import UserError
from utils.exporters import ExportOptions, check_images, export_model
from utils.inference.backends import DetectMultiBackend
from utils.inference.model_files import open_exported, tflite_metadata


@pytest.fixture(autouse=True)
def converters() -> None:
    for module, package in (("pnnx", "pnnx"), ("ncnn", "ncnn"), ("litert_torch", "litert-torch"),
                            ("ai_edge_litert", "ai-edge-litert"), ("coremltools", "coremltools"),
                            ("executorch", "executorch")):  # fmt: skip
        require_module(module, package, "the phone-format export tests")


def export_phone(cfg: str, folder: Path, formats: tuple[str, ...] = ("ncnn", "tflite"), **options) -> list:
    model = fused_model(cfg)
    return export_model(model, SHAPES_NAMES, folder / "best", ExportOptions(formats, EXPORT_SIZE, **options), False)


@pytest.fixture(scope="module")
def yolov5n_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """yolov5n exported to both formats once, ``--dynamic`` asked (and ignored: both graphs are static)."""
    results = export_phone("yolov5n", tmp_path_factory.mktemp("phone"), dynamic=True)
    return {result.format: result.path for result in results}


def assert_matches_pytorch(path: Path, cfg: str) -> None:
    backend = DetectMultiBackend(path)
    assert (backend.stride, backend.names, backend.precision) == (32, SHAPES_NAMES, "f32")
    assert backend.fixed_shape == (EXPORT_SIZE, EXPORT_SIZE)
    assert_as_exact_as_pytorch(path, fused_model(cfg), check_images((EXPORT_SIZE, EXPORT_SIZE)))
    # a batch of two different images: NCNN runs them one by one, LiteRT's graph takes one at a time
    pair = torch.rand(2, 3, EXPORT_SIZE, EXPORT_SIZE, generator=torch.Generator().manual_seed(1))
    assert_as_exact_as_pytorch(path, fused_model(cfg), pair)


def test_yolov5n_matches_pytorch(yolov5n_files: dict[str, Path]) -> None:
    assert [path.name for path in yolov5n_files.values()] == ["best_ncnn_model", "best_float32.tflite"]
    for fmt, path in yolov5n_files.items():
        assert DetectMultiBackend(path).format == fmt
        assert_matches_pytorch(path, "yolov5n")


@pytest.mark.slow
@pytest.mark.parametrize("cfg", ["yolov5s-efficientnet-b0", "timm:mobilenetv3_large_100"])
def test_backbone_swaps_match_pytorch(cfg: str, tmp_path: Path) -> None:
    for result in export_phone(cfg, tmp_path):
        assert_matches_pytorch(result.path, cfg)


def test_threads_reach_the_runtime(yolov5n_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``open_exported(threads=N)``: NCNN's option reads back; LiteRT's interpreter is built with ``num_threads``
    (it has no getter) and still gives the default interpreter's output."""
    import ai_edge_litert.interpreter as litert

    assert open_exported(yolov5n_files["ncnn"], "ncnn", threads=1).handle.opt.num_threads == 1
    built = []
    original = litert.Interpreter
    monkeypatch.setattr(litert, "Interpreter", lambda **kwargs: built.append(kwargs) or original(**kwargs))
    image = np.random.default_rng(0).random((1, 3, EXPORT_SIZE, EXPORT_SIZE), dtype=np.float32)
    one_thread = open_exported(yolov5n_files["tflite"], "tflite", threads=1).run(image)
    default = open_exported(yolov5n_files["tflite"], "tflite").run(image)
    assert [kwargs.get("num_threads") for kwargs in built] == [1, None]
    np.testing.assert_allclose(one_thread, default, rtol=1e-5, atol=1e-5)


def test_ncnn_folder_layout_and_metadata(yolov5n_files: dict[str, Path]) -> None:
    folder = yolov5n_files["ncnn"]
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.yaml", "model.ncnn.bin", "model.ncnn.param"]
    metadata = yaml.safe_load((folder / "metadata.yaml").read_text())
    assert metadata == {"stride": 32, "names": SHAPES_NAMES, "imgsz": [64, 64], "dynamic": False}
    assert DetectMultiBackend(folder / "model.ncnn.param").fixed_shape == (64, 64)  # the .param file names it too


@pytest.mark.parametrize(
    ("fmt", "weights_file", "precision"),
    [
        ("ncnn", "best_ncnn_model/model.ncnn.bin", "f16"),  # NCNN's float16 storage and arithmetic turned on
        ("tflite", "best_float16.tflite", "f32"),  # LiteRT computes in float32
    ],
)
def test_half_stores_float16_weights(
    fmt: str, weights_file: str, precision: str, yolov5n_files: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    if fmt == "tflite":  # the float32 flatbuffer stands in for litert-torch's conversion (a minute on 2 cores)
        convert_once(yolov5n_files["tflite"], monkeypatch)
    (half,) = export_phone("yolov5n", tmp_path, (fmt,), half=True)
    assert half.path == tmp_path / weights_file.split("/")[0]
    full_file = yolov5n_files[fmt] / "model.ncnn.bin" if fmt == "ncnn" else yolov5n_files[fmt]
    ratio = (tmp_path / weights_file).stat().st_size / full_file.stat().st_size
    assert 0.4 < ratio < 0.6
    if fmt == "tflite":
        assert tflite_metadata(half.path)["weights"] == "f16"
    else:
        assert yaml.safe_load((half.path / "metadata.yaml").read_text())["weights"] == "f16"
    backend = DetectMultiBackend(half.path, fp16=True)
    assert backend.precision == precision
    images = check_images((EXPORT_SIZE, EXPORT_SIZE))
    with torch.inference_mode():
        difference = float((backend(images) - fused_model("yolov5n")(images)[0]).abs().max())
    assert 0 < difference < 5.0  # float16 weights: not PyTorch's numbers, but the same boxes to a few pixels


def convert_once(tflite_file: Path, monkeypatch) -> None:
    """Make ``litert_torch.convert`` return the flatbuffer of ``tflite_file`` (its metadata archive cut off)."""
    import litert_torch

    data = tflite_file.read_bytes()
    flatbuffer = data[: data.rindex(b"PK\x03\x04")]

    class Converted:
        def export(self, path: str) -> None:
            Path(path).write_bytes(flatbuffer)

    monkeypatch.setattr(litert_torch, "convert", lambda *_args, **_kwargs: Converted())


def test_tflite_metadata_is_an_appended_archive(yolov5n_files: dict[str, Path], tmp_path: Path) -> None:
    expected = {"stride": 32, "names": SHAPES_NAMES, "imgsz": [64, 64], "dynamic": False}
    assert tflite_metadata(yolov5n_files["tflite"]) == expected
    data = yolov5n_files["tflite"].read_bytes()
    assert data[4:8] == b"TFL3"  # the flatbuffer comes first, untouched; the zip archive after it
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(data[: data.rindex(b"PK\x03\x04")])
    assert tflite_metadata(bare) == {}
    assert open_exported(bare, "tflite").fixed_shape == (64, 64)  # still runs; DetectMultiBackend warns, class0..
    not_json = tmp_path / "not_json.tflite"
    not_json.write_bytes(bare.read_bytes())
    with zipfile.ZipFile(not_json, "a") as archive:
        archive.writestr("metadata.json", "{'stride': 32}")
    with pytest.raises(UserError, match=r"not_json.tflite: unreadable metadata.json"):
        tflite_metadata(not_json)
    a_list = tmp_path / "a_list.tflite"
    a_list.write_bytes(bare.read_bytes())
    with zipfile.ZipFile(a_list, "a") as archive:
        archive.writestr("metadata.json", json.dumps([32]))
    with pytest.raises(UserError, match="must be a JSON object"):
        tflite_metadata(a_list)


@pytest.mark.parametrize(
    ("module", "fmt", "message"),
    [
        ("pnnx", "ncnn", "--include ncnn needs pnnx and ncnn: pip install pnnx ncnn"),
        ("litert_torch", "tflite", "--include tflite needs litert-torch: pip install litert-torch ai-edge-litert"),
        ("coremltools", "coreml", "--include coreml needs coremltools: pip install coremltools"),
        ("executorch", "executorch", "--include executorch needs ExecuTorch: pip install executorch"),
    ],
)
def test_a_missing_converter_names_its_package(module, fmt, message, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    with pytest.raises(UserError, match=message):
        export_phone("yolov5n", tmp_path, (fmt,))


def test_a_missing_runtime_names_its_package(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "best_ncnn_model"
    folder.mkdir()
    monkeypatch.setitem(sys.modules, "ncnn", None)
    with pytest.raises(UserError, match="needs the ncnn package: pip install ncnn"):
        DetectMultiBackend(folder)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    (tmp_path / "m.tflite").write_bytes(b"")
    with pytest.raises(UserError, match="needs LiteRT: pip install ai-edge-litert"):
        DetectMultiBackend(tmp_path / "m.tflite")


def test_a_converter_failure_is_one_line(tmp_path: Path, monkeypatch) -> None:
    import litert_torch
    import pnnx

    fake = tmp_path / "pnnx"
    fake.write_text("#!/bin/sh\necho 'pass_level2'\necho 'unsupported operator aten::frobnicate' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(pnnx, "EXEC_PATH", str(fake))
    with pytest.raises(UserError, match=r"^pnnx could not convert the model to NCNN: unsupported operator aten::frob"):
        export_phone("yolov5n", tmp_path, ("ncnn",))

    def refuse(*_args, **_kwargs):
        raise ValueError("Failed to run converter passes: tfl.frobnicate\n  (a long MLIR dump)")

    monkeypatch.setattr(litert_torch, "convert", refuse)
    with pytest.raises(UserError, match=r"could not convert the model to TFLite: Failed to run converter passes: tfl"):
        export_phone("yolov5n", tmp_path, ("tflite",))
    assert not list(tmp_path.glob("*.tflite*"))  # nothing half written


def test_broken_ncnn_folders_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "best_ncnn_model"
    folder.mkdir()
    (folder / "model.ncnn.param").write_text("7767517\n")
    with pytest.raises(UserError, match="holds model.ncnn.param and model.ncnn.bin; one is missing"):
        DetectMultiBackend(folder)
    (folder / "model.ncnn.bin").write_bytes(b"")
    (folder / "model.ncnn.param").write_text("not a param file\n")
    with pytest.raises(UserError, match="ncnn cannot load"):
        DetectMultiBackend(folder)
    (tmp_path / "junk.tflite").write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    with pytest.raises(UserError, match="junk.tflite: LiteRT cannot load it"):
        DetectMultiBackend(tmp_path / "junk.tflite")


@pytest.mark.slow
def test_coreml_and_executorch(tmp_path: Path) -> None:
    """ExecuTorch runs here (its Python runtime, XNNPACK): as exact as PyTorch. CoreML: the export's spec check
    passes, the metadata reads back, float32 compute unless --half, and the loaders refuse it in one line."""
    import coremltools

    results = export_model(fused_model("yolov5n"), SHAPES_NAMES, tmp_path / "best",
                           ExportOptions(("coreml", "executorch"), EXPORT_SIZE))  # fmt: skip
    assert [(r.path.name, r.passed) for r in results] == [("best.mlpackage", True), ("best_executorch_model", True)]
    assert sorted(p.name for p in results[1].path.iterdir()) == ["best.pte", "metadata.yaml"]
    assert_matches_pytorch(results[1].path, "yolov5n")
    spec = coremltools.utils.load_spec(str(results[0].path))
    stored = dict(spec.description.metadata.userDefined)
    assert (stored["stride"], json.loads(stored["names"]), stored["imgsz"]) == ("32", SHAPES_NAMES, "[64, 64]")
    assert "fp16" not in str(spec.mlProgram)  # float32 weights and compute; coremltools' default would be float16
    with pytest.raises(UserError, match="best.mlpackage: CoreML models run on Apple devices"):
        DetectMultiBackend(results[0].path)
    with pytest.raises(UserError, match="--half: the executorch export is float32"):
        ExportOptions(("executorch",), EXPORT_SIZE, half=True)
