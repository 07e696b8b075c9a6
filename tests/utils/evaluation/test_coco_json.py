"""COCO JSON in COCO's conventions (image ids from numeric stems, the 91-id category list, YOLOv5's rounding) and
pycocotools' score against COCO's own annotation file, checked against pycocotools run directly on the same files."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import val
from utils.evaluation.coco_ids import COCO_CATEGORY_IDS, COCO_NAMES, category_ids, image_id, is_coco_names
from utils.evaluation.coco_json import (
    OFFICIAL_ANNOTATIONS,
    coco_detections,
    coco_ground_truth,
    official_annotations,
    run_cocoeval,
    score_against_file,
)

STEMS = ("000000000139", "000000000285", "000000000632")
SIZE = (48, 64)  # height, width of each image


def independent_cocoeval(annotation_file: Path, predictions_file: Path, image_ids: list[int]) -> tuple[float, float]:
    """pycocotools as its README runs it: (AP@[.5:.95], AP@.5) from ``summarize()`` (100 detections per image)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotation_file))
        evaluator = COCOeval(truth, truth.loadRes(str(predictions_file)), "bbox")
        evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0]), float(evaluator.stats[1])


def annotation_file(path: Path, boxes: dict[int, list[tuple[int, list[float]]]], extra_images: int = 0) -> Path:
    """A COCO ``instances`` file: image id -> [(COCO category id, [x, y, w, h])]; ``extra_images`` more images
    with one box each that no evaluation covers (as the full val2017 file has for a subset)."""
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": SIZE[1], "height": SIZE[0]} for i in boxes]
    images += [{"id": 900000 + k, "file_name": f"{900000 + k:012d}.jpg", "width": 64, "height": 48}
               for k in range(extra_images)]  # fmt: skip
    rows = [(i, c, b) for i, items in boxes.items() for c, b in items]
    rows += [(900000 + k, 1, [1.0, 1.0, 20.0, 20.0]) for k in range(extra_images)]
    annotations = [
        {"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
        for k, (i, c, b) in enumerate(rows)
    ]
    categories = [{"id": c, "name": n, "supercategory": "x"} for c, n in zip(COCO_CATEGORY_IDS, COCO_NAMES)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def test_ids_follow_coco():
    assert image_id("/data/images/val2017/000000000139.jpg") == 139 and image_id("a/img_7.png") == "img_7"
    assert len(COCO_CATEGORY_IDS) == 80 and COCO_CATEGORY_IDS[:12] == (*range(1, 12), 13)
    assert COCO_CATEGORY_IDS[-7:] == tuple(range(84, 91)) and not {12, 26, 29, 30, 45, 66, 68, 69, 71, 83} & set(
        COCO_CATEGORY_IDS
    )
    assert category_ids(COCO_NAMES) == list(COCO_CATEGORY_IDS)
    other = [f"class{i}" for i in range(80)]  # nc=80 alone is not COCO
    assert not is_coco_names(other) and category_ids(other) == list(range(80))
    assert category_ids(["circle", "rectangle"]) == [0, 1]


def test_json_rows_use_coco_ids_and_yolov5_rounding():
    detections = np.array([[10.123456, 20.5, 30.0004, 41.25, 0.1234567, 2], [0, 0, 5, 5, 0.9, 79]])
    rows = coco_detections(139, detections, category_ids(COCO_NAMES))
    assert rows[0] == {"image_id": 139, "category_id": 3, "bbox": [10.123, 20.5, 19.877, 20.75], "score": 0.12346}
    assert rows[1]["category_id"] == 90 and coco_detections("x", detections)[1]["category_id"] == 79
    images = [{"id": 139, "file_name": "000000000139.jpg", "width": 64, "height": 48}]
    truth = coco_ground_truth(images, [np.array([[1.0, 2.0, 11.0, 22.0]])], [np.array([11])], list(COCO_NAMES))
    assert truth["annotations"][0]["category_id"] == 13 and truth["annotations"][0]["bbox"] == [1, 2, 10, 20]
    assert [c["id"] for c in truth["categories"]] == list(COCO_CATEGORY_IDS)


def test_score_against_the_official_file_equals_pycocotools(tmp_path, caplog):
    """Hand-made detections (hits, near misses, false positives, a wrong class) on three of the file's five images."""
    boxes = {139: [(1, [4.0, 4.0, 20.0, 30.0]), (62, [30.0, 10.0, 25.0, 20.0])], 285: [(90, [10.0, 5.0, 40.0, 40.0])],
             632: [(1, [0.0, 0.0, 10.0, 10.0]), (13, [40.0, 30.0, 20.0, 15.0])]}  # fmt: skip
    file = annotation_file(tmp_path / "annotations" / "instances_val2017.json", boxes, extra_images=2)
    predictions = [
        {"image_id": 139, "category_id": 1, "bbox": [5.0, 4.0, 19.0, 30.0], "score": 0.9},
        {"image_id": 139, "category_id": 62, "bbox": [33.0, 12.0, 25.0, 20.0], "score": 0.6},
        {"image_id": 139, "category_id": 1, "bbox": [40.0, 30.0, 10.0, 10.0], "score": 0.7},
        {"image_id": 285, "category_id": 90, "bbox": [12.0, 9.0, 40.0, 38.0], "score": 0.8},
        {"image_id": 285, "category_id": 13, "bbox": [10.0, 5.0, 40.0, 40.0], "score": 0.5},
        {"image_id": 632, "category_id": 1, "bbox": [0.0, 0.0, 9.0, 10.0], "score": 0.4},
        {"image_id": 632, "category_id": 13, "bbox": [41.0, 31.0, 20.0, 15.0], "score": 0.3},
    ]
    (tmp_path / "predictions.json").write_text(json.dumps(predictions))
    ours = score_against_file(file, predictions, [139, 285, 632], max_det=100)
    theirs = independent_cocoeval(file, tmp_path / "predictions.json", [139, 285, 632])
    assert 0.2 < ours[0] < 0.9 and ours == pytest.approx(theirs, abs=1e-9)
    with caplog.at_level(logging.WARNING):
        assert score_against_file(file, predictions, [139, 285, 632, "cat"], max_det=100) == pytest.approx(ours)
        assert score_against_file(file, predictions, ["cat", 7], max_det=100) is None
    assert "1 of 4 evaluated images are not in" in caplog.text and "none of the 2 evaluated images" in caplog.text
    assert official_annotations(tmp_path, COCO_NAMES) == file
    assert official_annotations(tmp_path, ["a", "b"]) is None  # other classes: the file's ids would not match
    assert official_annotations(tmp_path / "x", COCO_NAMES) is None


def test_mixed_int_and_string_image_ids_score():
    """Numeric and other stems in one split: pycocotools alone would turn the ids into strings and match nothing."""
    images = [{"id": 139, "file_name": "000000000139.jpg"}, {"id": "img_a", "file_name": "img_a.jpg"}]
    truth = coco_ground_truth(images, [np.array([[1.0, 1.0, 9.0, 9.0]])] * 2, [np.array([0])] * 2, ["a"])
    detections = coco_detections(139, np.array([[1, 1, 9, 9, 0.9, 0]])) + coco_detections(
        "img_a", np.array([[1, 1, 9, 9, 0.8, 0]])
    )
    assert run_cocoeval(truth, detections) == pytest.approx((1.0, 1.0))


def coco_style_set(root: Path) -> Path:
    """Three tiny images named as COCO's val2017 with YOLO labels, the 80 COCO names; returns the data YAML."""
    rng = np.random.default_rng(0)
    labels = {STEMS[0]: ["0 0.3 0.5 0.4 0.6", "62 0.7 0.4 0.3 0.3"], STEMS[1]: ["79 0.5 0.5 0.6 0.8"],
              STEMS[2]: ["56 0.25 0.25 0.3 0.3"]}  # fmt: skip
    for folder in ("images", "labels"):
        (root / folder / "val2017").mkdir(parents=True)
    for stem, lines in labels.items():
        cv2.imwrite(str(root / "images" / "val2017" / f"{stem}.jpg"), rng.integers(0, 255, (*SIZE, 3), np.uint8))
        (root / "labels" / "val2017" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(COCO_NAMES))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/val2017\nval: images/val2017\nnames:\n{names}")
    return root / "data.yaml"


@pytest.fixture(scope="module")
def coco_weights(tmp_path_factory) -> Path:
    """yolov5n for COCO's 80 names at seeded initial weights, head biases zeroed so that scores spread around 0.25
    (the prior's near-zero scores would round to ties in the JSON)."""
    from models.yolo import DetectionModel
    from tests.helpers import write_checkpoint

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DetectionModel("configs/models/yolov5n.yaml", nc=80, verbose=False)
    with torch.no_grad():
        for conv in model.model[-1].m:
            conv.bias.zero_()
    return write_checkpoint(model, list(COCO_NAMES), tmp_path_factory.mktemp("coco_weights") / "coco80.pt")


def run_val(capsys, weights: Path, data: Path, project: Path) -> tuple[str, Path]:
    argv = ["--weights", weights, "--data", data, "--imgsz", 64, "--workers", 0, "--max-det", 100, "--save-json",
            "--project", project]  # fmt: skip
    assert val.main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    return out, Path(re.search(r"Results saved to (\S+)", out).group(1))


def test_val_scores_against_coco_annotations(capsys, tmp_path, coco_weights, monkeypatch):
    """Without COCO's file val.py scores its own ground truth, with the same ids; with it (made from the labels
    plus a few of the first run's detections, so the mAP is well above zero) it scores against that file, and
    prints what pycocotools gives directly on the two files."""
    import utils.evaluation.plots

    monkeypatch.setattr(utils.evaluation.plots, "plot_evaluation", lambda *args: [])  # 80-class plots: 25 s
    data = coco_style_set(tmp_path / "coco")
    out, run = run_val(capsys, coco_weights, data, tmp_path / "runs")
    assert "pycocotools COCOeval against the labels (ground_truth.json)" in out
    predictions = json.loads((run / "predictions.json").read_text())
    truth = json.loads((run / "ground_truth.json").read_text())
    assert {p["image_id"] for p in predictions} <= {139, 285, 632}
    assert {i["id"] for i in truth["images"]} == {139, 285, 632}
    assert {p["category_id"] for p in predictions} <= set(COCO_CATEGORY_IDS) and len(predictions) > 100
    assert sorted(a["category_id"] for a in truth["annotations"]) == [1, 62, 72, 90]  # classes 0, 56, 62, 79

    boxes = {i["id"]: [] for i in truth["images"]}
    for a in truth["annotations"]:
        boxes[a["image_id"]].append((a["category_id"], a["bbox"]))
    for p in sorted(predictions, key=lambda p: -p["score"])[:6]:
        boxes[p["image_id"]].append((p["category_id"], p["bbox"]))
    file = annotation_file(tmp_path / "coco" / OFFICIAL_ANNOTATIONS, boxes)
    out, run = run_val(capsys, coco_weights, data, tmp_path / "runs")
    line = next(line for line in out.splitlines() if line.startswith("pycocotools COCOeval"))
    assert line.startswith(f"pycocotools COCOeval against {file}: ")
    printed = [float(x) for x in re.search(r"mAP50-95 ([\d.]+), mAP50 ([\d.]+)", line).groups()]
    theirs = independent_cocoeval(file, run / "predictions.json", [139, 285, 632])
    assert printed[0] > 0.05 and printed == pytest.approx(theirs, abs=5e-5)
    assert not (run / "ground_truth.json").exists()


def test_evaluate_gives_each_image_its_own_id(tmp_path, caplog):
    """Numeric and other stems, and one stem in two folders, in one split: ids stay apart and pycocotools agrees
    with a perfect detector."""
    from tests.utils.evaluation.test_evaluate import Oracle
    from utils.evaluation.evaluate import evaluate
    from utils.evaluation.options import EvalOptions

    paths = ("a/000000000139.jpg", "a/x.jpg", "b/x.jpg")
    targets = torch.tensor([[i, 1, 0.5, 0.5, 0.4, 0.3] for i in range(3)])
    batches = [(torch.zeros(3, 3, 64, 64, dtype=torch.uint8), targets, paths, (None,) * 3)]
    model = Oracle()
    with caplog.at_level(logging.WARNING):
        result = evaluate(model, model.feed(batches), ["a", "b", "c"], EvalOptions(save_json=True, save_dir=tmp_path))
    assert "1 images share a file stem" in caplog.text
    assert [p["image_id"] for p in json.loads((tmp_path / "predictions.json").read_text())] == [139, "x", "x~2"]
    assert result.coco_map == pytest.approx(1.0) and result.coco_truth is None
