"""Overview plot of a dataset's labels (``labels.jpg``), saved when training starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_labels(labels: np.ndarray, names: list[str], save_path: str | Path) -> Path:
    """Save a 2x2 figure: boxes per class, box centres (x, y), box sizes (w, h), and 500 boxes drawn centred.

    ``labels`` is ``(n, 5)`` ``[class, x, y, w, h]`` normalised (e.g. ``np.concatenate(dataset.labels)``).
    Uses matplotlib's Agg canvas directly, so the process-wide backend is left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    labels = np.asarray(labels, dtype=np.float32).reshape(-1, 5)
    classes = labels[:, 0].astype(int)
    fig = Figure(figsize=(8, 8), tight_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.subplots(2, 2).ravel()
    counts = np.bincount(classes, minlength=len(names))[: len(names)]
    palette = [f"C{i % 10}" for i in range(len(names))]
    ax[0].bar(range(len(names)), counts, color=palette)
    ax[0].set_xticks(range(len(names)), names if len(names) <= 30 else [""] * len(names), rotation=90, fontsize=8)
    ax[0].set_ylabel("boxes")
    ax[0].set_title(f"{len(labels)} boxes, {len(names)} classes")
    ax[1].hist2d(labels[:, 1], labels[:, 2], bins=50, range=[[0, 1], [0, 1]], cmap="Blues")
    ax[1].set(xlabel="x centre", ylabel="y centre", xlim=(0, 1), ylim=(1, 0))
    ax[2].hist2d(labels[:, 3], labels[:, 4], bins=50, range=[[0, 1], [0, 1]], cmap="Blues")
    ax[2].set(xlabel="width", ylabel="height")
    for cls, _, _, w, h in labels[:500]:
        ax[3].add_patch(Rectangle((0.5 - w / 2, 0.5 - h / 2), w, h, fill=False, lw=0.5, color=palette[int(cls)]))
    ax[3].set(xlim=(0, 1), ylim=(1, 0), aspect="equal", title="box shapes (500, centred)")
    save_path = Path(save_path)
    save_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(save_path, dpi=150)
    return save_path
