"""Confusion matrix of a detector, with a background row and column (as YOLOv5 plots it)."""

from __future__ import annotations

import numpy as np

from utils.boxes import box_iou

CONF_THRESHOLD = 0.25
IOU_THRESHOLD = 0.45


class ConfusionMatrix:
    """Counts ``matrix[predicted, true]`` of shape (C + 1, C + 1); index C is background.

    Column C (true background) counts false positives: detections that match no ground-truth box. Row C
    (predicted background) counts ground-truth boxes that no detection matched. Matching ignores classes: each
    pair is one detection and one ground-truth box with IoU above ``iou_thres``, taken greedily by IoU, one to one,
    so a box of the wrong class shows up off the diagonal.
    """

    def __init__(self, num_classes: int, conf_thres: float = CONF_THRESHOLD, iou_thres: float = IOU_THRESHOLD):
        self.num_classes = num_classes
        self.conf_thres = conf_thres
        self.iou_thres = iou_thres
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)

    def update(self, detections: np.ndarray, true_boxes: np.ndarray, true_classes: np.ndarray) -> None:
        """Add one image: ``detections`` (n, 6) ``x1, y1, x2, y2, confidence, class``; ``true_boxes`` (m, 4)
        ``xyxy`` in the same units; ``true_classes`` (m,)."""
        background = self.num_classes
        detections = np.asarray(detections)
        detections = detections[detections[:, 4] > self.conf_thres]
        pred_classes = detections[:, 5].astype(np.int64)
        true_cls = np.asarray(true_classes).astype(np.int64)
        pred_match, true_match = self._match(detections[:, :4], true_boxes)
        for t, p in enumerate(true_match):
            self.matrix[pred_classes[p] if p >= 0 else background, true_cls[t]] += 1
        for p in np.flatnonzero(pred_match < 0):
            self.matrix[pred_classes[p], background] += 1

    def _match(self, pred_boxes: np.ndarray, true_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One-to-one pairs by decreasing IoU: (index of the matched truth per prediction, of the matched
        prediction per truth), -1 where unmatched."""
        pred_match = np.full(len(pred_boxes), -1)
        true_match = np.full(len(true_boxes), -1)
        if len(pred_boxes) and len(true_boxes):
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = box_iou(np.asarray(true_boxes, np.float64), np.asarray(pred_boxes, np.float64), eps=0.0)
            ts, ps = np.nonzero(iou > self.iou_thres)
            for k in np.argsort(-iou[ts, ps], kind="mergesort"):
                t, p = ts[k], ps[k]
                if true_match[t] < 0 and pred_match[p] < 0:
                    true_match[t], pred_match[p] = p, t
        return pred_match, true_match

    def normalized(self) -> np.ndarray:
        """The matrix with each column (true class) divided by its total, so columns sum to 1 (0 when empty)."""
        totals = self.matrix.sum(0, keepdims=True)
        return self.matrix / np.maximum(totals, 1)
