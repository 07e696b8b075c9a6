"""Precision, recall and F1 as functions of confidence, and the precision-recall curve, for plotting.

The same interpolation as :mod:`utils.evaluation.metrics`, so the plotted curves show the printed numbers: the PR
curve is COCO's monotone envelope sampled at 101 recall points (its mean is AP@0.5), and P/R at the confidence where
the mean F1 peaks are the P and R in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utils.evaluation.metrics import RECALL_POINTS

CONFIDENCE_POINTS = np.linspace(0, 1, 1000)


@dataclass
class MetricCurves:
    """Curves for the C classes that have ground truth, at IoU 0.5.

    ``precision``, ``recall``, ``f1``: (C, K) against ``confidence`` (K,). ``pr``: (C, 101) precision against
    ``recall_points`` (101,); ``ap50``: (C,) its means. ``classes``: (C,) class indices.
    """

    classes: np.ndarray
    confidence: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    recall_points: np.ndarray
    pr: np.ndarray

    @property
    def ap50(self) -> np.ndarray:
        return self.pr.mean(1) if self.pr.size else np.zeros(0)


def metric_curves(
    correct50: np.ndarray, scores: np.ndarray, pred_classes: np.ndarray, true_classes: np.ndarray
) -> MetricCurves:
    """Curves from all predictions of a dataset: ``correct50`` (n,) true-positive flags at IoU 0.5, ``scores``
    and ``pred_classes`` (n,), ``true_classes`` (m,) of every ground-truth box."""
    classes = np.unique(np.asarray(true_classes).astype(int))
    shape = (len(classes), len(CONFIDENCE_POINTS))
    precision, recall = np.zeros(shape), np.zeros(shape)
    pr = np.zeros((len(classes), len(RECALL_POINTS)))
    for row, c in enumerate(classes):
        mask = pred_classes == c
        num_true = int((true_classes == c).sum())
        if not mask.any():
            continue
        order = np.argsort(-scores[mask], kind="mergesort")
        hits = correct50[mask][order]
        tp, fp = np.cumsum(hits), np.cumsum(~hits)
        conf = scores[mask][order]
        class_recall, class_precision = tp / num_true, tp / (tp + fp)
        recall[row] = np.interp(-CONFIDENCE_POINTS, -conf, class_recall, left=0)
        precision[row] = np.interp(-CONFIDENCE_POINTS, -conf, class_precision, left=1)
        envelope = np.flip(np.maximum.accumulate(np.flip(class_precision)))
        index = np.searchsorted(class_recall, RECALL_POINTS, side="left")
        valid = index < len(class_recall)
        pr[row, valid] = envelope[index[valid]]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-16)
    return MetricCurves(classes, CONFIDENCE_POINTS, precision, recall, f1, RECALL_POINTS, pr)
