"""COCO-format JSON for ground truth and detections, and pycocotools' COCOeval on them.

Used by ``val.py --save-json`` and by the tests that check our mAP against pycocotools. Boxes enter as ``xyxy``
pixels of the original image and are written as COCO's ``[x, y, width, height]``; ids follow COCO's conventions
(:mod:`utils.evaluation.coco_ids`), so ``predictions.json`` scores against COCO's own annotation file as it is.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from utils.errors import UserError
from utils.evaluation.coco_ids import category_ids, is_coco_names

LOGGER = logging.getLogger(__name__)
COCO_LISTS = ("images", "annotations", "categories")
OFFICIAL_ANNOTATIONS = Path("annotations") / "instances_val2017.json"  # where YOLOv5 looks, under the data root


def coco_ground_truth(
    images: list[dict], boxes_per_image: list[np.ndarray], classes_per_image: list[np.ndarray], names: list[str]
) -> dict:
    """A COCO ground-truth dict. ``images``: dicts with ``id``, ``file_name``, ``width``, ``height``. Category ids
    are :func:`~utils.evaluation.coco_ids.category_ids` of ``names``, as in :func:`coco_detections`."""
    ids = category_ids(names)
    annotations = []
    for image, boxes, classes in zip(images, boxes_per_image, classes_per_image):
        for box, cls in zip(np.asarray(boxes, dtype=float), np.asarray(classes, dtype=int)):
            width, height = box[2] - box[0], box[3] - box[1]
            annotations.append({
                "id": len(annotations) + 1, "image_id": image["id"], "category_id": ids[cls],
                "bbox": [float(box[0]), float(box[1]), float(width), float(height)],
                "area": float(width * height), "iscrowd": 0,
            })  # fmt: skip
    categories = [{"id": ids[i], "name": name} for i, name in enumerate(names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(image_id: int | str, detections: np.ndarray, ids: Sequence[int] | None = None) -> list[dict]:
    """COCO results for one image from (n, 6) ``x1, y1, x2, y2, confidence, class`` rows in original pixels.

    ``ids``: class index -> ``category_id`` (default: the class index). Box values are rounded to 3 decimals and
    scores to 5, as YOLOv5 writes them, so the file is as small and the scores as tied as theirs."""
    return [
        {
            "image_id": image_id, "category_id": ids[int(row[5])] if ids is not None else int(row[5]),
            "bbox": [round(float(row[0]), 3), round(float(row[1]), 3),
                     round(float(row[2] - row[0]), 3), round(float(row[3] - row[1]), 3)],
            "score": round(float(row[4]), 5),
        }
        for row in np.asarray(detections, dtype=float)
    ]  # fmt: skip


def official_annotations(root: Path, names: Sequence[str]) -> Path | None:
    """COCO's ``annotations/instances_val2017.json`` under the dataset ``root`` when it is there and ``names`` are
    COCO's 80 classes (the file's category ids mean nothing for other classes; that case is logged); else None."""
    path = Path(root) / OFFICIAL_ANNOTATIONS
    if not path.is_file():
        return None
    if not is_coco_names(names):
        LOGGER.warning("%s is there but the class names are not COCO's 80; pycocotools scores the labels instead", path)
        return None
    return path


def load_ground_truth(path: Path) -> dict:
    """A COCO annotation file, checked for the three lists COCOeval reads; anything else is one UserError line."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a COCO annotation file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in COCO_LISTS):
        raise UserError(f"{path}: not a COCO annotation file (needs {', '.join(map(repr, COCO_LISTS))} lists)")
    return data


def score_against_file(
    path: Path, detections: list[dict], image_ids: Collection[int | str], max_det: int = 300
) -> tuple[float, float] | None:
    """pycocotools' (mAP@0.5:0.95, mAP@0.5) of ``detections`` against the annotation file ``path``, on the
    evaluated images (``image_ids``) that the file has. None, with a warning, when it has none of them; a warning
    also names how many evaluated images it lacks, since those are left out of the score."""
    truth = load_ground_truth(path)
    known = {image["id"] for image in truth["images"] if isinstance(image, dict)}
    shared = [i for i in dict.fromkeys(image_ids) if i in known]
    if not shared:
        LOGGER.warning("WARNING: none of the %d evaluated images is in %s; pycocotools scores the labels instead",
                       len(image_ids), path)  # fmt: skip
        return None
    if len(shared) < len(image_ids):
        LOGGER.warning("WARNING: %d of %d evaluated images are not in %s and are left out of pycocotools' score",
                       len(image_ids) - len(shared), len(image_ids), path)  # fmt: skip
    return run_cocoeval(truth, detections, max_det, image_ids=shared)


def run_cocoeval(
    ground_truth: dict, detections: list[dict], max_det: int = 300, image_ids: Collection[int | str] | None = None
) -> tuple[float, float]:
    """pycocotools' (mAP@0.5:0.95, mAP@0.5) for bounding boxes, with up to ``max_det`` detections per image.

    ``image_ids``: the images scored (default: every image of ``ground_truth``); detections on other images are
    left out. Image ids are renumbered 0..n-1 on a copy first: pycocotools sorts ids with numpy, which turns a mix
    of ints and strings (numeric and other file stems) into strings that no longer match."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:  # a torch-free deploy venv (requirements-deploy.txt) may leave it out
        raise UserError(
            "--save-json scores with pycocotools, which is not installed: pip install pycocotools"
        ) from None

    truth, results, scored = _renumbered(ground_truth, detections, image_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = truth
        coco.createIndex()
        if not results:
            return 0.0, 0.0
        evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.params.imgIds = scored
        evaluator.params.maxDets = [1, 10, max_det]
        evaluator.evaluate()
        evaluator.accumulate()
    # summarize() reads only maxDets=100; take the area-'all', maxDets=max_det slice of the precision array
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # (IoU thresholds, recall points, classes)
    return _mean_valid(precision), _mean_valid(precision[0])


def _renumbered(ground_truth: dict, detections: list[dict], image_ids) -> tuple[dict, list[dict], list[int]]:
    """Copies of the ground truth and of the detections on scored images, image ids as 0..n-1, and the scored ids."""
    index = {image["id"]: k for k, image in enumerate(ground_truth["images"])}
    scored = [index[i] for i in (index if image_ids is None else image_ids) if i in index]
    keep = set(scored)
    truth = {
        **ground_truth,
        "images": [{**image, "id": index[image["id"]]} for image in ground_truth["images"]],
        "annotations": [{**a, "image_id": index[a["image_id"]]} for a in ground_truth["annotations"]
                        if a.get("image_id") in index],
    }  # fmt: skip
    results = [{**d, "image_id": index[d["image_id"]]} for d in detections if index.get(d["image_id"], -1) in keep]
    return truth, results, scored


def _mean_valid(precision: np.ndarray) -> float:
    valid = precision[precision > -1]  # -1 marks classes without ground truth
    return float(valid.mean()) if valid.size else 0.0
