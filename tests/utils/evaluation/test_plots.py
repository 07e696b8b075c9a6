import numpy as np
import pytest

from utils.evaluation.confusion import ConfusionMatrix
from utils.evaluation.metric_curves import metric_curves
from utils.evaluation.metrics import detection_metrics
from utils.evaluation.plots import plot_evaluation


def test_confusion_matrix_hand_case():
    """Classes 0, 1; background is index 2. Rows are predictions, columns ground truth."""
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], dtype=np.float32)
    true_classes = np.array([0, 1, 1])
    detections = np.array(
        [
            [0, 0, 10, 10, 0.9, 0],  # right box, right class -> [0, 0]
            [20, 20, 30, 31, 0.8, 0],  # right box, wrong class -> [0, 1]
            [40, 40, 50, 50, 0.1, 1],  # below conf 0.25: ignored, so truth 3 is missed -> [2, 1]
            [70, 70, 80, 80, 0.7, 1],  # nothing there -> [1, 2]
            [0, 0, 10, 9, 0.6, 0],  # duplicate of the first: its truth is taken -> [0, 2]
        ]
    )
    confusion = ConfusionMatrix(2)
    confusion.update(detections, truth, true_classes)
    assert confusion.matrix.tolist() == [[1, 1, 1], [0, 0, 1], [0, 1, 0]]
    assert confusion.normalized()[:, 1].tolist() == [0.5, 0.0, 0.5]


def test_confusion_matrix_without_detections_or_truth():
    confusion = ConfusionMatrix(3)
    confusion.update(np.zeros((0, 6)), np.array([[0.0, 0, 5, 5]]), np.array([2]))
    confusion.update(np.array([[0.0, 0, 5, 5, 0.5, 1]]), np.zeros((0, 4)), np.zeros(0))
    assert confusion.matrix[3, 2] == 1 and confusion.matrix[1, 3] == 1 and confusion.matrix.sum() == 2


def test_curves_match_printed_metrics():
    rng = np.random.default_rng(0)
    correct = rng.random((200, 10)) < 0.6
    scores, pred_classes = rng.random(200), rng.integers(0, 3, 200)
    true_classes = rng.integers(0, 3, 150)
    curves = metric_curves(correct[:, 0], scores, pred_classes, true_classes)
    metrics = detection_metrics(correct, scores, pred_classes, true_classes)
    assert curves.ap50 == pytest.approx(metrics.ap[:, 0])  # PR curve integrates to the printed AP@0.5
    best = curves.f1.mean(0).argmax()
    assert curves.precision[:, best] == pytest.approx(metrics.precision)
    assert curves.recall[:, best] == pytest.approx(metrics.recall)


def test_plot_files_are_written(tmp_path):
    rng = np.random.default_rng(1)
    correct = rng.random(50) < 0.5
    curves = metric_curves(correct, rng.random(50), rng.integers(0, 2, 50), np.array([0, 0, 1, 1, 1]))
    confusion = ConfusionMatrix(2)
    confusion.matrix[:] = [[3, 1, 2], [0, 4, 1], [1, 0, 0]]
    paths = plot_evaluation(curves, confusion, ["cat", "dog"], tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        ["confusion_matrix.png", "PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png"]
    )
    assert all(p.stat().st_size > 1000 for p in paths)


def test_plots_with_no_classes(tmp_path):
    curves = metric_curves(np.zeros(0, bool), np.zeros(0), np.zeros(0), np.zeros(0))
    assert len(plot_evaluation(curves, ConfusionMatrix(1), ["item"], tmp_path)) == 5
