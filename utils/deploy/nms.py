"""Non-maximum suppression in numpy, with the semantics of :func:`utils.nms.non_max_suppression`: best class per
box (detect.py) or one candidate per box and class above the threshold (``multi_label``, val.py), class-aware unless
``agnostic``, ``classes`` filter, ``max_det`` highest scores kept."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utils.boxes import box_iou, xywh_to_xyxy

MAX_NMS = 30000  # candidates per image passed to NMS, highest score first (as utils.nms)


def suppress(
    prediction: np.ndarray,
    conf_thres: float = 0.25,
    iou_thres: float = 0.45,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    max_det: int = 1000,
    multi_label: bool = False,
) -> np.ndarray:
    """(N, 5 + nc) decoded predictions of one image -> (n, 6) float32 ``x1, y1, x2, y2, confidence, class``."""
    candidates = prediction[prediction[:, 4] > conf_thres]
    if not len(candidates):
        return np.zeros((0, 6), np.float32)
    num_classes = prediction.shape[1] - 5
    scores = candidates[:, 5:] * candidates[:, 4:5] if num_classes > 1 else candidates[:, 4:5]
    if multi_label and num_classes > 1:
        rows, label = np.nonzero(scores > conf_thres)
    else:
        rows, label = np.arange(len(scores)), scores.argmax(1)
    confidence = scores[rows, label]
    boxes = xywh_to_xyxy(candidates[rows, :4])
    detections = np.concatenate((boxes, confidence[:, None], label[:, None]), 1)[confidence > conf_thres]
    if classes is not None:
        detections = detections[np.isin(detections[:, 5], list(classes))]
    detections = detections[np.argsort(-detections[:, 4], kind="stable")[:MAX_NMS]]
    keep = _greedy(detections[:, :4], None if agnostic else detections[:, 5], iou_thres, max_det)
    return detections[keep].astype(np.float32)


def _greedy(boxes: np.ndarray, labels: np.ndarray | None, iou_thres: float, max_det: int) -> list[int]:
    """Indices kept by greedy NMS of ``boxes`` sorted by score, highest first; a box only suppresses boxes of its
    own label (all boxes when ``labels`` is None). One row of IoUs per kept box, never the (N, N) matrix."""
    order, keep = np.arange(len(boxes)), []
    while len(order) and len(keep) < max_det:
        index, rest = order[0], order[1:]
        keep.append(int(index))
        overlapping = box_iou(boxes[index : index + 1], boxes[rest])[0] > iou_thres
        if labels is not None:
            overlapping &= labels[rest] == labels[index]
        order = rest[~overlapping]
    return keep
