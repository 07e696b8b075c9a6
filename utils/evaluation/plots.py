"""Evaluation plots saved in a run folder: confusion matrix, PR curve, and F1 / P / R against confidence.

Each figure is drawn on its own matplotlib Agg canvas, so the process-wide backend is left alone.
File names are YOLOv5's: ``confusion_matrix.png``, ``PR_curve.png``, ``F1_curve.png``, ``P_curve.png``,
``R_curve.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from utils.evaluation.confusion import ConfusionMatrix
from utils.evaluation.metric_curves import MetricCurves

MAX_LEGEND_CLASSES = 20  # more classes: thin grey lines without a legend entry each
MAX_ANNOTATED_CLASSES = 30  # more classes: confusion matrix cells without numbers


def _figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, tight_layout=True)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig, save_path: str | Path) -> Path:
    save_path = Path(save_path)
    save_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(save_path, dpi=200)
    return save_path


def plot_pr_curve(curves: MetricCurves, names: list[str], save_path: str | Path) -> Path:
    """Precision against recall at IoU 0.5, one line per class and a bold mean labelled with mAP@0.5."""
    fig, ax = _figure((9, 6))
    per_class = len(curves.classes) <= MAX_LEGEND_CLASSES
    for c, precision, ap in zip(curves.classes, curves.pr, curves.ap50):
        label = f"{names[c]} {ap:.3f}" if per_class else None
        ax.plot(curves.recall_points, precision, linewidth=1, label=label, color=None if per_class else "grey")
    if len(curves.classes):
        mean = curves.pr.mean(0)
        ax.plot(curves.recall_points, mean, linewidth=3, color="blue", label=f"all classes {mean.mean():.3f} mAP@0.5")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1), title="Precision-Recall Curve")
    if len(curves.classes):
        ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left")
    return _save(fig, save_path)


def plot_confidence_curve(
    confidence: np.ndarray, values: np.ndarray, classes: np.ndarray, names: list[str], ylabel: str, save_path
) -> Path:
    """``values`` (C, K) against ``confidence`` (K,), one line per class and a bold mean labelled with its peak."""
    fig, ax = _figure((9, 6))
    per_class = len(classes) <= MAX_LEGEND_CLASSES
    for c, y in zip(classes, values):
        ax.plot(confidence, y, linewidth=1, label=names[c] if per_class else None, color=None if per_class else "grey")
    if len(classes):
        mean = values.mean(0)
        best = int(mean.argmax())
        label = f"all classes {mean[best]:.2f} at {confidence[best]:.3f}"
        ax.plot(confidence, mean, linewidth=3, color="blue", label=label)
    ax.set(xlabel="Confidence", ylabel=ylabel, xlim=(0, 1), ylim=(0, 1), title=f"{ylabel}-Confidence Curve")
    if len(classes):
        ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left")
    return _save(fig, save_path)


def plot_confusion_matrix(confusion: ConfusionMatrix, names: list[str], save_path: str | Path) -> Path:
    """The column-normalised matrix (each true class sums to 1), background last; empty cells left blank."""
    matrix = confusion.normalized()
    labels = [*names, "background"]
    size = len(labels)
    fig, ax = _figure((max(6.0, 0.45 * size + 3), max(5.0, 0.4 * size + 2.5)))
    shown = np.where(matrix < 0.005, np.nan, matrix)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046)
    if size <= MAX_ANNOTATED_CLASSES:
        for (row, col), value in np.ndenumerate(matrix):
            if value >= 0.005:
                ax.text(
                    col,
                    row,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > 0.5 else "black",
                )
    ticks = range(size) if size <= MAX_ANNOTATED_CLASSES * 2 else []
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=8)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=8)
    ax.set(xlabel="True", ylabel="Predicted", title="Confusion Matrix")
    return _save(fig, save_path)


def plot_evaluation(curves: MetricCurves, confusion: ConfusionMatrix, names: list[str], save_dir) -> list[Path]:
    """All five evaluation plots into ``save_dir``; returns their paths."""
    save_dir = Path(save_dir)
    paths = [
        plot_confusion_matrix(confusion, names, save_dir / "confusion_matrix.png"),
        plot_pr_curve(curves, names, save_dir / "PR_curve.png"),
    ]
    for values, ylabel, file_name in (
        (curves.f1, "F1", "F1_curve.png"),
        (curves.precision, "Precision", "P_curve.png"),
        (curves.recall, "Recall", "R_curve.png"),
    ):
        path = save_dir / file_name
        paths.append(plot_confidence_curve(curves.confidence, values, curves.classes, names, ylabel, path))
    return paths
