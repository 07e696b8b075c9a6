"""COCO-format JSON for ground truth and detections, and pycocotools' COCOeval on them.

Used by ``val.py --save-json`` and by the tests that check our mAP against pycocotools.
Boxes enter as ``xyxy`` pixels and are written as COCO's ``[x, y, width, height]``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np


def coco_ground_truth(
    images: list[dict], boxes_per_image: list[np.ndarray], classes_per_image: list[np.ndarray], names: list[str]
) -> dict:
    """A COCO ground-truth dict. ``images``: dicts with ``id``, ``file_name``, ``width``, ``height``."""
    annotations = []
    for image, boxes, classes in zip(images, boxes_per_image, classes_per_image):
        for box, cls in zip(np.asarray(boxes, dtype=float), np.asarray(classes, dtype=int)):
            width, height = box[2] - box[0], box[3] - box[1]
            annotations.append({
                "id": len(annotations) + 1, "image_id": image["id"], "category_id": int(cls),
                "bbox": [float(box[0]), float(box[1]), float(width), float(height)],
                "area": float(width * height), "iscrowd": 0,
            })
    categories = [{"id": i, "name": name} for i, name in enumerate(names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(image_id: int, detections: np.ndarray) -> list[dict]:
    """COCO results for one image from (n, 6) ``x1, y1, x2, y2, confidence, class`` rows."""
    return [
        {
            "image_id": image_id, "category_id": int(row[5]),
            "bbox": [round(float(row[0]), 3), round(float(row[1]), 3),
                     round(float(row[2] - row[0]), 3), round(float(row[3] - row[1]), 3)],
            "score": round(float(row[4]), 5),
        }
        for row in np.asarray(detections, dtype=float)
    ]


def run_cocoeval(ground_truth: dict, detections: list[dict], max_det: int = 300) -> tuple[float, float]:
    """pycocotools' (mAP@0.5:0.95, mAP@0.5) for bounding boxes, with up to ``max_det`` detections per image."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = ground_truth
        truth.createIndex()
        if not detections:
            return 0.0, 0.0
        results = truth.loadRes(detections)
        evaluator = COCOeval(truth, results, "bbox")
        evaluator.params.imgIds = [image["id"] for image in ground_truth["images"]]
        evaluator.params.maxDets = [1, 10, max_det]
        evaluator.evaluate()
        evaluator.accumulate()
    # summarize() reads only maxDets=100; take the area-'all', maxDets=max_det slice of the precision array
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # (IoU thresholds, recall points, classes)
    return _mean_valid(precision), _mean_valid(precision[0])


def _mean_valid(precision: np.ndarray) -> float:
    valid = precision[precision > -1]  # -1 marks classes without ground truth
    return float(valid.mean()) if valid.size else 0.0
