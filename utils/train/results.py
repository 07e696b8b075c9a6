"""The per-epoch ``results.csv`` of a training run and its ``results.png`` plot."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = [
    "epoch",
    "train/box_loss",
    "train/obj_loss",
    "train/cls_loss",
    "metrics/precision",
    "metrics/recall",
    "metrics/mAP_0.5",
    "metrics/mAP_0.5:0.95",
    "val/box_loss",
    "val/obj_loss",
    "val/cls_loss",
    "x/lr0",
    "x/lr1",
    "x/lr2",
]  # YOLOv5's column names


def append_row(path: Path, values: list[float]) -> None:
    """Append one epoch's row, writing the header first for a new file."""
    new = not path.exists()
    with open(path, "a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(COLUMNS)
        writer.writerow([int(values[0])] + [f"{v:.5g}" for v in values[1:]])


def read_rows(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def truncate_after(path: Path, last_epoch: int) -> None:
    """Drop rows of epochs after ``last_epoch`` (a run killed after writing a row but before saving its
    checkpoint repeats that epoch on resume; this keeps the file unbroken)."""
    rows = [row for row in read_rows(path) if row["epoch"] <= last_epoch]
    if path.exists():
        path.unlink()
    for row in rows:
        append_row(path, [row[c] for c in COLUMNS])


def plot_results(csv_path: Path, save_path: Path | None = None) -> Path | None:
    """Losses, metrics and LRs against epoch, one panel per column; returns the PNG path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_rows(csv_path)
    if not rows:
        return None
    save_path = save_path or csv_path.with_suffix(".png")
    epochs = np.array([row["epoch"] for row in rows])
    figure = Figure(figsize=(15, 7), tight_layout=True)
    FigureCanvasAgg(figure)
    panels = [c for c in COLUMNS[1:] if not c.startswith("x/")]
    for index, column in enumerate(panels):
        axis = figure.add_subplot(2, 5, index + 1)
        axis.plot(epochs, [row[column] for row in rows], marker=".", linewidth=2, markersize=6)
        axis.set_title(column, fontsize=11)
        axis.set_xlabel("epoch")
    figure.savefig(save_path, dpi=120)
    return save_path
