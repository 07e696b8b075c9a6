import cv2
import numpy as np
import torch

from utils.plots.batch import plot_images


def test_grid_of_labels_and_predictions(tmp_path):
    images = torch.full((5, 3, 64, 96), 40, dtype=torch.uint8)
    labels = torch.tensor([[0, 0, 0.5, 0.5, 0.5, 0.5], [3, 1, 0.2, 0.2, 0.2, 0.2]])
    path = plot_images(images, labels, [f"im{i}.jpg" for i in range(5)], ["a", "b"], tmp_path / "labels.jpg")
    grid = cv2.imread(str(path))
    assert grid.shape == (2 * 64, 3 * 96, 3)  # 5 images -> 3 columns x 2 rows
    assert (grid[:64, :96] != 40).any()  # the first tile has a box drawn
    predictions = torch.tensor([[0, 0, 0.5, 0.5, 0.5, 0.5, 0.9], [1, 1, 0.5, 0.5, 0.5, 0.5, 0.1]])
    path = plot_images(images.float() / 255, predictions, None, None, tmp_path / "pred.jpg")
    grid = cv2.imread(str(path))
    assert (np.abs(grid[2:62, 98:190].astype(int) - 40) < 20).all()  # conf 0.1 < 0.25: image 1 has no box drawn


def test_large_batches_are_scaled_down(tmp_path):
    images = np.zeros((16, 3, 640, 640), dtype=np.uint8)
    path = plot_images(images, np.zeros((0, 6)), save_path=tmp_path / "big.jpg")
    assert max(cv2.imread(str(path)).shape[:2]) <= 1920
