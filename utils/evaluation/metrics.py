"""Detection metrics computed the way COCO computes them.

Predictions are matched to ground truth per image and class at IoU 0.50:0.05:0.95, greedily in score order,
each to the unmatched ground-truth box it overlaps most; precision-recall curves are made monotone and sampled
at 101 recall points. So mAP@0.5:0.95 and mAP@0.5 agree with pycocotools' COCOeval on the same detections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utils.boxes import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def match_predictions(
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    pred_classes: np.ndarray,
    true_boxes: np.ndarray,
    true_classes: np.ndarray,
    iou_thresholds: np.ndarray = IOU_THRESHOLDS,
) -> np.ndarray:
    """True-positive flags (n_pred, n_thresholds) for one image's predictions (numpy arrays, so the torch-free
    val path shares this code).

    Boxes are ``xyxy`` in the same units for predictions and ground truth. Each prediction, highest score first,
    takes the unmatched same-class ground-truth box with the largest IoU at or above the threshold.
    """
    correct = np.zeros((len(pred_boxes), len(iou_thresholds)), dtype=bool)
    if not len(pred_boxes) or not len(true_boxes):
        return correct
    with np.errstate(invalid="ignore", divide="ignore"):  # exact IoU, as pycocotools (two empty boxes: nan)
        iou = box_iou(np.asarray(pred_boxes, np.float64), np.asarray(true_boxes, np.float64), eps=0.0)
    iou[np.asarray(pred_classes)[:, None] != np.asarray(true_classes)[None, :]] = -1.0
    thresholds = np.minimum(iou_thresholds, 1 - 1e-10)[:, None]
    taken = np.zeros((len(iou_thresholds), len(true_boxes)), dtype=bool)
    for index in np.argsort(-np.asarray(pred_scores), kind="mergesort"):
        candidates = np.where(taken | (iou[index][None, :] < thresholds), -1.0, iou[index][None, :])
        best = candidates.argmax(1)
        hit = candidates[np.arange(len(best)), best] >= 0
        taken[hit, best[hit]] = True
        correct[index] = hit
    return correct


def coco_average_precision(correct: np.ndarray, scores: np.ndarray, num_true: int) -> np.ndarray:
    """AP per IoU threshold for one class: ``correct`` (n, T) flags, ``scores`` (n,), ``num_true`` boxes."""
    if num_true == 0:
        return np.full(correct.shape[1], np.nan)
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(correct[order], 0)
    fp = np.cumsum(~correct[order], 0)
    recall = tp / num_true
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    precision = np.flip(np.maximum.accumulate(np.flip(precision, 0), 0), 0)  # monotone envelope
    ap = np.zeros(correct.shape[1])
    for t in range(correct.shape[1]):
        index = np.searchsorted(recall[:, t], RECALL_POINTS, side="left")
        valid = index < len(recall)
        ap[t] = precision[index[valid], t].sum() / len(RECALL_POINTS)
    return ap


@dataclass
class DetectionMetrics:
    """Per-class results. ``ap`` is (C, T) over ``IOU_THRESHOLDS``; ``precision``/``recall`` are at the confidence
    that maximises the mean F1 over classes (as YOLOv5 reports them); ``classes`` are the class indices that have
    ground truth or predictions, ``instances`` their ground-truth counts."""

    classes: np.ndarray
    instances: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    ap: np.ndarray

    @property
    def map50(self) -> float:
        return float(np.nanmean(self.ap[:, 0])) if self.ap.size and not np.isnan(self.ap[:, 0]).all() else 0.0

    @property
    def map(self) -> float:
        return float(np.nanmean(self.ap.mean(1))) if self.ap.size and not np.isnan(self.ap).all() else 0.0

    @property
    def mean_precision(self) -> float:
        return float(self.precision.mean()) if self.precision.size else 0.0

    @property
    def mean_recall(self) -> float:
        return float(self.recall.mean()) if self.recall.size else 0.0

    def fitness(self) -> float:
        """0.1 mAP@0.5 + 0.9 mAP@0.5:0.95, the score that picks best.pt."""
        return 0.1 * self.map50 + 0.9 * self.map


def detection_metrics(
    correct: np.ndarray, scores: np.ndarray, pred_classes: np.ndarray, true_classes: np.ndarray
) -> DetectionMetrics:
    """Aggregate the matches of a whole dataset.

    Args:
        correct: (n, T) flags from :func:`match_predictions`, all images concatenated.
        scores, pred_classes: (n,) confidence and class of each prediction.
        true_classes: (m,) class of every ground-truth box.
    """
    classes = np.unique(np.concatenate((true_classes, pred_classes)).astype(int))
    instances = np.array([(true_classes == c).sum() for c in classes])
    ap = (
        np.stack(
            [
                coco_average_precision(correct[pred_classes == c], scores[pred_classes == c], n)
                for c, n in zip(classes, instances)
            ]
        )
        if len(classes)
        else np.zeros((0, correct.shape[1]))
    )
    precision, recall = _precision_recall_at_best_f1(correct[:, 0], scores, pred_classes, classes, instances)
    keep = instances > 0  # classes with predictions but no ground truth have no AP (COCO skips them too)
    return DetectionMetrics(classes[keep], instances[keep], precision[keep], recall[keep], ap[keep])


def _precision_recall_at_best_f1(
    correct: np.ndarray, scores: np.ndarray, pred_classes: np.ndarray, classes: np.ndarray, instances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall per class at the single confidence where the mean F1 over classes is highest."""
    grid = np.linspace(0, 1, 1000)
    precision = np.zeros((len(classes), len(grid)))
    recall = np.zeros((len(classes), len(grid)))
    for row, (c, n) in enumerate(zip(classes, instances)):
        mask = pred_classes == c
        if not mask.any() or n == 0:
            continue
        order = np.argsort(-scores[mask], kind="mergesort")
        tp = np.cumsum(correct[mask][order])
        fp = np.cumsum(~correct[mask][order])
        conf = scores[mask][order]
        recall[row] = np.interp(-grid, -conf, tp / n, left=0)
        precision[row] = np.interp(-grid, -conf, tp / (tp + fp), left=1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-16)
    best = int(f1.mean(0).argmax()) if len(classes) else 0
    return precision[:, best], recall[:, best]
