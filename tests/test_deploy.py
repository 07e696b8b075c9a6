"""The torch-free detect path: detect.py on ONNX, OpenVINO, NCNN and TFLite files with torch never imported, the same
boxes as the torch path, numpy NMS equal to torchvision's, and (slow) a venv built from requirements-deploy.txt
alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import export
from tests.helpers import ROOT, randomise_batchnorm, require_module, write_checkpoint
from utils.deploy.detector import runs_without_torch
from utils.deploy.nms import suppress
from utils.nms import non_max_suppression

SIZE = 96
CONF = 0.0005  # the untrained head is unsure of everything: its scores sit near 0.002
PROBE = """
import json, sys
sys.path.insert(0, {root!r})
import {script}
rc = {script}.main({argv!r})
heavy = sorted(name for name in ("torch", "torchvision", "timm") if name in sys.modules)
print(json.dumps({{"rc": rc, "heavy": heavy}}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolov5n with random BatchNorm statistics (so it detects something at a low threshold), exported to a dynamic
    ONNX file and a static OpenVINO folder at 96 px; returns best.pt."""
    folder = tmp_path_factory.mktemp("deploy")
    torch.manual_seed(0)
    from models.yolo import DetectionModel

    model = DetectionModel("yolov5n.yaml", nc=3, verbose=False)
    randomise_batchnorm(model)
    weights = write_checkpoint(model, ["circle", "rectangle", "triangle"], folder / "best.pt")
    assert export.main(["--weights", str(weights), "--include", "onnx", "--imgsz", str(SIZE), "--dynamic"]) == 0
    assert export.main(["--weights", str(weights), "--include", "openvino", "--imgsz", str(SIZE)]) == 0
    return weights


@pytest.fixture(scope="module")
def phone_exported(exported: Path) -> Path:
    """The same best.pt exported to NCNN and TFLite at 96 px (static, as those formats are)."""
    require_module("pnnx", "pnnx", "the torch-free NCNN tests")
    require_module("litert_torch", "litert-torch", "the torch-free TFLite tests")
    assert export.main(["--weights", str(exported), "--include", "ncnn", "tflite", "--imgsz", str(SIZE)]) == 0
    return exported


def probe(python: str, argv: list[str], env: dict | None = None, script: str = "detect") -> dict:
    """Run ``script``.main(argv) (detect or val) in a fresh interpreter; its exit code and which of
    torch/torchvision/timm it loaded."""
    code = PROBE.format(root=str(ROOT), argv=argv, script=script)
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["best.onnx", "best_openvino_model"])
def test_detect_runs_without_importing_torch(exported: Path, shapes_root: Path, tmp_path: Path, name: str):
    source = str(shapes_root / "images" / "val")
    argv = ["--weights", str(exported.parent / name), "--source", source, "--imgsz", str(SIZE), "--device", "cpu",
            "--project", str(tmp_path), "--save-txt", "--conf-thres", str(CONF)]  # fmt: skip
    assert probe(sys.executable, argv) == {"rc": 0, "heavy": []}
    assert len(list((tmp_path / "exp" / "labels").glob("*.txt"))) > 0


@pytest.mark.parametrize("name", ["best_ncnn_model", "best_float32.tflite"])
def test_detect_runs_ncnn_and_tflite_without_importing_torch(
    phone_exported: Path, shapes_root: Path, tmp_path: Path, name: str
):
    test_detect_runs_without_importing_torch(phone_exported, shapes_root, tmp_path, name)


def test_the_choice_of_path():
    assert runs_without_torch("m.onnx", "cpu") and runs_without_torch("m_openvino_model", "")
    assert runs_without_torch("best_ncnn_model", "0") and runs_without_torch("best_float32.tflite", "0")  # CPU-only
    assert not runs_without_torch("m.pt", "cpu") and not runs_without_torch("m.onnx", "0")


COMPARE = """
import json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
import cv2, numpy as np
from utils.deploy.detector import NumpyDetector
from utils.inference.backends import DetectMultiBackend
from utils.inference.predict import detect_image
ours, theirs = NumpyDetector({weights!r}), DetectMultiBackend({weights!r}, "cpu")
report = []
for path in {images!r}:
    image = cv2.imread(path)
    expected = detect_image(theirs, image, ({size}, {size}), {conf}, **{options!r})[0]
    actual = ours.detect(image, ({size}, {size}), {conf}, **{options!r})[0]
    same = actual.shape == expected.shape
    report.append([len(expected), same, float(np.abs(actual - expected).max()) if same and len(actual) else 0.0])
print(json.dumps(report))
"""


@pytest.mark.parametrize("name", ["best.onnx", "best_openvino_model"])
@pytest.mark.parametrize("options", [{}, {"agnostic": True}, {"classes": [1]}, {"max_det": 5}])
def test_boxes_equal_the_torch_path(exported: Path, shapes_root: Path, name: str, options: dict):
    """Run in a fresh interpreter: runtime sessions held by the pytest process were followed by crashes in later
    in-process trainings (see tests/conftest.py ``train_apart``)."""
    images = [str(p) for p in sorted((shapes_root / "images" / "val").glob("*.jpg"))[:4]]
    code = COMPARE.format(root=str(ROOT), weights=str(exported.parent / name), images=images, size=SIZE, conf=CONF,
                          options=options)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for count, same_shape, difference in json.loads(done.stdout.strip().splitlines()[-1]):
        assert count > 0 and same_shape and difference <= 1e-3


@pytest.mark.parametrize(
    "options",
    [{}, {"agnostic": True}, {"classes": [0, 2]}, {"max_det": 7}, {"iou_thres": 0.2}, {"multi_label": True},
     {"multi_label": True, "agnostic": True, "max_det": 30}],
)  # fmt: skip
def test_numpy_nms_equals_torchvision(options: dict):
    """Crowded, overlapping boxes of three classes: the kept boxes, their order and scores equal utils.nms's."""
    rng = np.random.default_rng(0)
    count = 400
    centres = rng.uniform(20, 80, (count, 2))
    sizes = rng.uniform(5, 30, (count, 2))
    scores = rng.uniform(0, 1, (count, 4))  # objectness, then three class probabilities
    prediction = np.concatenate((centres, sizes, scores), 1).astype(np.float32)
    arguments = {"conf_thres": 0.1, "iou_thres": 0.45, **options}
    expected = non_max_suppression(torch.from_numpy(prediction[None]), max_det=options.get("max_det", 1000),
                                   **{k: v for k, v in arguments.items() if k != "max_det"})[0].numpy()  # fmt: skip
    actual = suppress(prediction, **arguments)
    candidates = count * 3 if options.get("multi_label") else count  # multi-label: one per box and class
    assert 5 <= len(expected) < candidates and actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["best.onnx", "best_openvino_model"])
def test_val_runs_without_importing_torch(exported: Path, shapes_yaml: Path, tmp_path: Path, name: str):
    argv = ["--weights", str(exported.parent / name), "--data", str(shapes_yaml), "--imgsz", str(SIZE),
            "--device", "cpu", "--project", str(tmp_path), "--save-json"]  # fmt: skip
    assert probe(sys.executable, argv, script="val") == {"rc": 0, "heavy": []}
    assert {"predictions.json", "confusion_matrix.png", "val_batch0_pred.jpg"} <= {
        path.name for path in (tmp_path / "exp").iterdir()
    }


@pytest.fixture(scope="module")
def trained_exported(shapes_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The briefly trained shapes model exported to a dynamic ONNX file and a static OpenVINO folder at 160 px."""
    weights = Path(shutil.copy(shapes_weights, tmp_path_factory.mktemp("trained") / "best.pt"))
    assert export.main(["--weights", str(weights), "--include", "onnx", "--imgsz", "160", "--dynamic"]) == 0
    assert export.main(["--weights", str(weights), "--include", "openvino", "--imgsz", "160"]) == 0
    return weights


SCORE_BOTH = """
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
from utils.data.dataloader import create_dataloader
from utils.data.options import LoaderOptions
from utils.data.samples import YoloSamples
from utils.deploy.detector import NumpyDetector
from utils.deploy.evaluate import evaluate_exported
from utils.evaluation.evaluate import evaluate
from utils.evaluation.options import EvalOptions
from utils.inference.backends import BackendDetector, DetectMultiBackend
split, names, batch = {split!r}, ["circle", "rectangle", "triangle"], 8
backend = DetectMultiBackend({weights!r}, "cpu")
rect = backend.fixed_shape is None
loader = LoaderOptions(160, batch, 32, rect=rect, pad=0.5 if rect else 0.0, workers=0, num_classes=3)
results = [
    evaluate(BackendDetector(backend), create_dataloader(split, loader)[0], names, EvalOptions()),
    evaluate_exported(NumpyDetector({weights!r}), YoloSamples(split, loader), batch, names, EvalOptions()),
]
print(json.dumps([[r.images, r.metrics.ap.tolist(), r.metrics.precision.tolist(), r.metrics.recall.tolist(),
                   list(r.batch_shape)] for r in results]))
"""


@pytest.mark.parametrize("name", ["best.onnx", "best_openvino_model"])
def test_val_scores_equal_the_torch_path(trained_exported: Path, shapes_root: Path, name: str):
    """The torch-free loop gives the torch loop's figures on the same file: per class and IoU threshold AP, P and
    R, images and batch shape (rectangular batches for the dynamic ONNX file, square for static OpenVINO)."""
    code = SCORE_BOTH.format(root=str(ROOT), split=str(shapes_root / "images" / "val"),
                             weights=str(trained_exported.parent / name))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    torch_path, numpy_path = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.mean(torch_path[1], 1).mean() > 0.05  # a detector that finds something, so agreement means something
    assert numpy_path[0] == torch_path[0] and numpy_path[4] == torch_path[4]
    for ours, theirs in zip(numpy_path[1:4], torch_path[1:4]):
        np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_a_venv_from_requirements_deploy_runs_detect(exported: Path, shapes_root: Path, tmp_path: Path):
    """requirements-deploy.txt alone is enough: a fresh venv with it runs detect.py and val.py on the ONNX file."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-deploy.txt")],
                             capture_output=True, text=True, timeout=900)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    source = str(shapes_root / "images" / "val")
    argv = ["--weights", str(exported.parent / "best.onnx"), "--source", source, "--imgsz", str(SIZE), "--project",
            str(tmp_path / "runs"), "--save-txt", "--conf-thres", str(CONF)]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    assert probe(python, argv, env) == {"rc": 0, "heavy": []}
    assert len(list((tmp_path / "runs" / "exp" / "labels").glob("*.txt"))) > 0
    argv = ["--weights", str(exported.parent / "best.onnx"), "--data", str(shapes_root / "shapes.yaml"), "--imgsz",
            str(SIZE), "--project", str(tmp_path / "val")]  # fmt: skip
    assert probe(python, argv, env, script="val") == {"rc": 0, "heavy": []}  # matplotlib absent: plots skipped
    shutil.rmtree(venv)


@pytest.mark.parametrize("name", ["best_ncnn_model", "best_float32.tflite"])
def test_ncnn_and_tflite_boxes_equal_the_torch_path(phone_exported: Path, shapes_root: Path, name: str):
    test_boxes_equal_the_torch_path(phone_exported, shapes_root, name, {})
