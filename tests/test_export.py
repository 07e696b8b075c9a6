"""export.py end to end on the trained shapes checkpoint: files beside the weights, the strict 1e-3 self-check,
detect.py and val.py on every exported format, static exports fed their own size, and mAP from ONNX/OpenVINO
equal to PyTorch's on shapes val and on BCCD test.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import detect
import export
import val
from tests.helpers import require_module

SIZE = 160
NAMES = ["circle", "rectangle", "triangle"]


def export_cli(weights: Path, folder: Path) -> Path:
    """``weights`` copied to ``folder/best.pt`` and exported by the CLI to all three formats, dynamic, at 160 px."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "best.pt"
    shutil.copy(weights, copy)
    argv = ["--weights", str(copy), "--include", "torchscript", "onnx", "openvino", "--imgsz", str(SIZE),
            "--dynamic", "--simplify"]  # fmt: skip
    assert export.main(argv) == 0
    return copy


@pytest.fixture(scope="module")
def exported(shapes_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained ``best.pt`` exported by :func:`export_cli`: the formats are compared on real detections."""
    return export_cli(shapes_weights, tmp_path_factory.mktemp("export"))


def test_cli_writes_files_beside_the_weights(untrained_weights: Path, tmp_path: Path) -> None:
    folder = export_cli(untrained_weights, tmp_path).parent
    assert sorted(p.name for p in folder.iterdir()) == ["best.onnx", "best.pt", "best.torchscript",
                                                        "best_openvino_model"]  # fmt: skip
    assert sorted(p.name for p in (folder / "best_openvino_model").iterdir()) == ["best.bin", "best.xml",
                                                                                   "metadata.yaml"]  # fmt: skip


@pytest.mark.slow
def test_self_check_is_under_1e_3_on_a_trained_model(shapes_weights: Path, tmp_path: Path) -> None:
    from utils.exporters import ExportOptions
    from utils.exporters import export as export_weights

    shutil.copy(shapes_weights, tmp_path / "best.pt")
    options = ExportOptions(include=("torchscript", "onnx", "openvino"), imgsz=SIZE)
    results = export_weights(tmp_path / "best.pt", options)
    assert [r.path.name for r in results] == ["best.torchscript", "best.onnx", "best_openvino_model"]
    for result in results:
        assert result.passed and result.max_abs_diff < 1e-3, result.line()


def detect_labels(weights: Path, source: Path, project: Path) -> np.ndarray:
    """detect.py on one image; its saved label rows ``class x y w h conf`` (normalised), sorted."""
    argv = ["--weights", str(weights), "--source", str(source), "--imgsz", str(SIZE), "--project", str(project),
            "--save-txt", "--save-conf", "--conf-thres", "0.01", "--max-det", "5", "--device", "cpu"]  # fmt: skip
    assert detect.main(argv) == 0
    assert (project / "exp" / source.name).is_file()
    rows = np.loadtxt(project / "exp" / "labels" / f"{source.stem}.txt", ndmin=2)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["best.torchscript", "best.onnx", "best_openvino_model"])
def test_detect_gives_the_pt_boxes_in_every_format(
    exported: Path, name: str, shapes_root: Path, tmp_path: Path
) -> None:
    """OpenVINO included: it computes in f32 on every CPU (bf16 would be its default on AVX512-BF16 CPUs)."""
    source = sorted((shapes_root / "images" / "val").glob("*.jpg"))[0]
    expected = detect_labels(exported, source, tmp_path / "pt")
    actual = detect_labels(exported.parent / name, source, tmp_path / "exported")
    assert len(expected) > 0 and actual.shape == expected.shape
    np.testing.assert_array_equal(actual[:, 0], expected[:, 0])
    np.testing.assert_allclose(actual[:, 1:], expected[:, 1:], rtol=1e-3, atol=2e-6)  # labels keep 6 decimals


def val_run(weights: Path, data_yaml: Path, save_dir: Path, *extra: str):
    """val.py's pipeline on ``weights``; returns (result, folder with predictions.json)."""
    argv = ["--weights", str(weights), "--data", str(data_yaml), "--imgsz", str(SIZE), "--batch-size", "8", "--workers",
            "0", "--device", "cpu", "--project", str(save_dir), "--name", Path(weights).name, *extra]  # fmt: skip
    return val.run(val.parse_args(argv))


@pytest.mark.slow
def test_val_scores_every_format_like_pytorch(exported: Path, shapes_yaml: Path, tmp_path: Path) -> None:
    """Dynamic exports get the same rectangular batches as the checkpoint, so their mAP must agree closely."""
    maps = {}
    for name in ("best.pt", "best.torchscript", "best.onnx", "best_openvino_model"):
        result, _ = val_run(exported.parent / name, shapes_yaml, tmp_path)
        maps[name] = result.map
    assert maps["best.pt"] > 0.05, maps  # a real, if weak, detector
    assert all(abs(value - maps["best.pt"]) < 0.005 for value in maps.values()), maps


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_val_feeds_a_static_export_its_own_size_and_batch(
    fmt: str, shapes_weights: Path, shapes_yaml: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from utils.exporters import ExportOptions
    from utils.exporters import export as export_weights

    shutil.copy(shapes_weights, tmp_path / "best.pt")
    (exported_file,) = export_weights(tmp_path / "best.pt", ExportOptions(include=(fmt,), imgsz=SIZE, batch_size=3))
    with caplog.at_level(logging.INFO):
        result, _ = val_run(exported_file.path, shapes_yaml, tmp_path, "--imgsz", "320")
    assert result.batch_shape == (3, 3, SIZE, SIZE)  # square letterbox at the export size, the export's batch
    assert result.images == 32  # 10 batches of 3, then 2 images zero-padded to the graph's batch
    assert f"fixed input size {SIZE}x{SIZE}; using it instead of --imgsz 320" in caplog.text
    assert result.map > 0.05


@pytest.mark.slow
def test_bccd_test_map_from_onnx_and_openvino_equals_pytorch(bccd_weights: Path, bccd_yolo, tmp_path: Path) -> None:
    """On BCCD test, with a model trained on BCCD: mAP@0.5:0.95 within 0.005 of PyTorch's, and the same
    detections (their count within 1%), which a weak model's small mAP alone would not show."""
    weights = tmp_path / "best.pt"
    shutil.copy(bccd_weights, weights)
    assert export.main(["--weights", str(weights), "--include", "onnx", "openvino", "--imgsz", str(SIZE),
                        "--dynamic"]) == 0  # fmt: skip
    results, detections = {}, {}
    for name in ("best.pt", "best.onnx", "best_openvino_model"):
        result, save_dir = val_run(weights.parent / name, bccd_yolo[0] / "data.yaml", tmp_path / "val", "--task",
                                   "test", "--save-json")  # fmt: skip
        results[name] = result
        detections[name] = len(json.loads((save_dir / "predictions.json").read_text()))
    reference = results["best.pt"]
    assert reference.map50 > 0.005 and detections["best.pt"] > 1000  # real, if early, blood-cell detections
    for name in ("best.onnx", "best_openvino_model"):
        assert abs(results[name].map - reference.map) < 0.005, (name, results[name].map, reference.map)
        assert abs(detections[name] - detections["best.pt"]) <= 0.01 * detections["best.pt"], detections


@pytest.mark.slow
def test_ncnn_and_tflite_give_the_pt_boxes_and_its_map(
    shapes_weights: Path, shapes_root: Path, shapes_yaml: Path, tmp_path: Path
) -> None:
    """The phone formats (static, 160 px) on the trained model. detect.py on a square image, where the static
    letterbox and the checkpoint's rectangular one are the same: the same boxes. val.py: the mAP of a static ONNX file
    at the same size (the same square letterbox and batches), within 0.005, and the checkpoint's within 0.02 (its
    rectangular batches pad less)."""
    require_module("pnnx", "pnnx", "the NCNN end-to-end test")
    require_module("litert_torch", "litert-torch", "the TFLite end-to-end test")
    weights = tmp_path / "best.pt"
    shutil.copy(shapes_weights, weights)
    assert export.main(["--weights", str(weights), "--include", "onnx", "ncnn", "tflite", "--imgsz", str(SIZE)]) == 0
    image = cv2.imread(str(sorted((shapes_root / "images" / "val").glob("*.jpg"))[0]))
    side = min(image.shape[:2])
    cv2.imwrite(str(tmp_path / "square.jpg"), image[:side, :side])
    expected = detect_labels(weights, tmp_path / "square.jpg", tmp_path / "pt")
    maps = {"best.pt": val_run(weights, shapes_yaml, tmp_path / "val")[0].map}
    for name in ("best.onnx", "best_ncnn_model", "best_float32.tflite"):
        actual = detect_labels(tmp_path / name, tmp_path / "square.jpg", tmp_path / name.replace(".", "_"))
        assert len(expected) > 0 and actual.shape == expected.shape, name
        np.testing.assert_array_equal(actual[:, 0], expected[:, 0])
        np.testing.assert_allclose(actual[:, 1:5], expected[:, 1:5], atol=1 / 640)  # 1 px at 640 (labels are 0..1)
        maps[name] = val_run(tmp_path / name, shapes_yaml, tmp_path / "val")[0].map
    assert maps["best.pt"] > 0.05, maps
    assert abs(maps["best_ncnn_model"] - maps["best.onnx"]) < 0.005, maps
    assert abs(maps["best_float32.tflite"] - maps["best.onnx"]) < 0.005, maps
    assert all(abs(value - maps["best.pt"]) < 0.02 for value in maps.values()), maps


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert export.main(["--weights", str(tmp_path / "missing.pt"), "--include", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: weights not found: {tmp_path / 'missing.pt'}"
    assert export.main(["--weights", str(tmp_path / "model.onnx")]) == 2
    assert "export reads a .pt checkpoint" in capsys.readouterr().err
