"""An ultralytics/yolov5 ``yolov5s.pt``, made by the ``yolov5`` package as their repository makes it, through our
loader, detect.py, val.py, export.py and train.py.

``tests/reference/make_official_checkpoint.py`` runs in the package's venv: it builds yolov5s at nc=80, calibrates
its BatchNorm statistics on shapes images (so scores differ), saves the checkpoint with their module paths and runs
their letterbox, model and NMS on three images. Skipped locally without that venv; a failure in CI.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import detect
import export
import val
from tests.helpers import yolov5_reference
from utils.checkpoints.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
IMGSZ, CONF, IOU = 320, 0.02, 0.45  # conf: the calibrated untrained model gives 2, 7 and ~190 boxes above it

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(shapes_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Eight shapes train images to calibrate BatchNorm on, three val images to detect on."""
    folder = tmp_path_factory.mktemp("official_images")
    for path in sorted((shapes_root / "images" / "val").glob("*.jpg"))[:3]:
        shutil.copy(path, folder / path.name)
    calibrate = sorted((shapes_root / "images" / "train").glob("*.jpg"))[:8]
    return {"calibrate": calibrate, "detect": sorted(folder.glob("*"))}


@pytest.fixture(scope="module")
def official(images, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(path of their yolov5s.pt, their detections per image name as [x1, y1, x2, y2, conf, class] rows)."""
    out = tmp_path_factory.mktemp("official")
    python, env = yolov5_reference(out, "the official-weights tests")
    script = ROOT / "tests" / "reference" / "make_official_checkpoint.py"
    command = [str(python), str(script), str(out), "--imgsz", str(IMGSZ), "--conf-thres", str(CONF),
               "--iou-thres", str(IOU), "--calibrate", *map(str, images["calibrate"]),
               "--images", *map(str, images["detect"])]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "yolov5s.pt", json.loads((out / "detections.json").read_text())


def test_the_file_has_their_layout_and_loads_strictly(official):
    path, _ = official
    import zipfile

    with zipfile.ZipFile(path) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"cmodels.yolo\nDetectionModel\n" in pickled and b"yolov5.models" not in pickled
    checkpoint = load_checkpoint(path)  # builds our yolov5s from their yaml and loads with strict=True
    assert checkpoint["format"] == "ultralytics/yolov5" and checkpoint["epoch"] == -1
    assert checkpoint["names"][:3] == ["person", "bicycle", "car"] and len(checkpoint["names"]) == 80
    assert len(checkpoint["model"]) == 349 and checkpoint["model"]["model.0.conv.weight"].dtype == torch.float16


def test_the_pypi_package_class_names_load_the_same(official):
    """best.pt from the ``yolov5`` PyPI package pickles ``yolov5.models.yolo.DetectionModel``; it reads alike."""
    path, _ = official
    package_file = path.with_name("yolov5s_package_paths.pt")
    import zipfile

    with zipfile.ZipFile(package_file) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"cyolov5.models.yolo\nDetectionModel\n" in pickled
    theirs, ours = load_checkpoint(package_file), load_checkpoint(path)
    assert theirs["names"] == ours["names"] and theirs["model"].keys() == ours["model"].keys()
    assert all(torch.equal(theirs["model"][k], ours["model"][k]) for k in ours["model"])


def test_detect_gives_the_package_boxes(official, images, tmp_path):
    path, expected = official
    code = detect.main(["--weights", str(path), "--source", str(images["detect"][0].parent), "--imgsz", str(IMGSZ),
                        "--conf-thres", str(CONF), "--iou-thres", str(IOU), "--save-txt", "--save-conf", "--nosave",
                        "--device", "cpu", "--project", str(tmp_path)])  # fmt: skip
    assert code == 0
    for image in images["detect"]:
        theirs = np.array(expected[image.name]).reshape(-1, 6)
        ours = our_detections(tmp_path / "exp" / "labels" / f"{image.stem}.txt", image)
        assert len(theirs) > 0
        assert_same_detections(ours, theirs, image.name)
        assert_same_detections(theirs, ours, image.name)


def our_detections(labels: Path, image: Path) -> np.ndarray:
    """detect.py's ``class xc yc w h conf`` lines (normalised) as ``x1 y1 x2 y2 conf class`` pixel rows."""
    import cv2

    height, width = cv2.imread(str(image)).shape[:2]
    rows = np.loadtxt(labels, ndmin=2) if labels.exists() else np.zeros((0, 6))
    cls, xc, yc, w, h, conf = rows.T
    boxes = np.stack([(xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height], 1)
    return np.concatenate([boxes, conf[:, None], cls[:, None]], 1)


def assert_same_detections(these: np.ndarray, those: np.ndarray, name: str) -> None:
    """Every detection of ``these`` clear of the threshold has one in ``those``: same class, corners within 1 px
    (theirs are rounded), confidence within 1e-4."""
    for row in these[these[:, 4] > CONF + 1e-3]:
        same = (
            (those[:, 5] == row[5])
            & (np.abs(those[:, :4] - row[:4]).max(1) <= 1.0)
            & (np.abs(those[:, 4] - row[4]) < 1e-4)
        )
        assert same.any(), f"{name}: no match for {row.round(4).tolist()}"


def test_val_runs_on_it(official, shapes_root, tmp_path, capsys, monkeypatch):
    path, _ = official
    import utils.evaluation.plots  # an 81x81 confusion matrix takes ~20 s to draw on 2 cores; tests/test_val.py plots

    monkeypatch.setattr(utils.evaluation.plots, "plot_evaluation", lambda *args: [])
    listing = tmp_path / "val.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted((shapes_root / "images" / "val").glob("*.jpg"))[:4]))
    data = tmp_path / "coco_names.yaml"  # their 80 COCO names over shapes images (labels 0..2)
    data.write_text(json.dumps({"path": str(tmp_path), "train": "val.txt", "val": "val.txt",
                                "names": load_checkpoint(path)["names"]}))  # fmt: skip
    code = val.main(["--weights", str(path), "--data", str(data), "--imgsz", "160", "--device", "cpu",
                     "--project", str(tmp_path / "runs")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[1].split()[:2] == ["all", "4"]


def test_export_exports_it(official, tmp_path):
    path = shutil.copy(official[0], tmp_path / "yolov5s.pt")
    assert export.main(["--weights", str(path), "--include", "torchscript", "--imgsz", "160"]) == 0
    assert (tmp_path / "yolov5s.torchscript").is_file()


@pytest.mark.parametrize(
    ("cfg", "transferred"), [("", "343/349"), ("configs/models/yolov5s-efficientnet-b0.yaml", "143/515")]
)
def test_train_fine_tunes_from_it(official, shapes_root, tmp_path, caplog, cfg, transferred):
    from utils.train.options import TrainOptions
    from utils.train.trainer import Trainer

    listing = tmp_path / "train.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted((shapes_root / "images" / "train").glob("*.jpg"))[:8]))
    data = tmp_path / "tiny.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: train.txt\nval: train.txt\nnames: [circle, rectangle, triangle]\n")
    options = TrainOptions(data=str(data), weights=str(official[0]), cfg=cfg, epochs=1, imgsz=64, batch_size=4, nbs=4,
                           hyp=str(ROOT / "tests" / "data" / "hyp.quick.yaml"), device="cpu", workers=0, noval=True,
                           noplots=True, noautoanchor=True, project=str(tmp_path))  # fmt: skip
    with caplog.at_level(logging.INFO):
        Trainer(options).fit()
    assert f"Transferred {transferred} items from {official[0]}" in caplog.text
    assert load_checkpoint(tmp_path / "exp" / "weights" / "last.pt")["names"] == ["circle", "rectangle", "triangle"]
