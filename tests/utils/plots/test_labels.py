import cv2
import matplotlib
import numpy as np

from utils.plots.labels import plot_labels


def test_writes_labels_jpg_without_touching_the_backend(tmp_path):
    backend = matplotlib.get_backend()
    rng = np.random.default_rng(0)
    labels = np.concatenate([rng.integers(0, 3, (200, 1)), rng.uniform(0.05, 0.95, (200, 4)) / [1, 1, 4, 4]], 1)
    out = plot_labels(labels, ["a", "b", "c"], tmp_path / "run" / "labels.jpg")
    img = cv2.imread(str(out))
    assert out == tmp_path / "run" / "labels.jpg" and img is not None and img.shape[0] > 500
    assert matplotlib.get_backend() == backend
    assert plot_labels(np.zeros((0, 5)), ["a"], tmp_path / "empty.jpg").is_file()
