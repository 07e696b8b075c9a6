import numpy as np
import torch

from models.head import Detect
from utils.train.autoanchor import anchor_fit, check_anchors, evolve_anchors, label_sizes


def test_anchor_fit_by_hand():
    anchors = np.array([[10.0, 10.0]])
    sizes = np.array([[10.0, 10.0], [40.0, 10.0], [50.0, 10.0]])  # ratios 1, 4 (limit), 5
    bpr, per_box = anchor_fit(sizes, anchors, anchor_t=4.0)
    assert bpr == 1 / 3  # 1/4 is not above 1/4
    assert per_box == 1 / 3


def test_evolved_anchors_fit_clustered_boxes():
    rng = np.random.default_rng(0)
    sizes = np.concatenate([rng.normal(c, 0.05 * c, (200, 2)) for c in (8, 30, 120)])
    anchors = evolve_anchors(sizes, 3, anchor_t=4.0, generations=200)
    assert anchors.shape == (3, 2)
    assert np.allclose(np.sort(anchors.mean(1)), [8, 30, 120], rtol=0.2)
    assert anchor_fit(sizes, anchors, 4.0)[0] == 1.0


def test_check_anchors_replaces_poor_anchors_in_the_head():
    head = Detect(1, [[1000, 1000, 1100, 1100, 1200, 1200]] * 3, [8, 8, 8])
    head.set_strides(torch.tensor([8.0, 16.0, 32.0]))
    sizes = np.random.default_rng(0).uniform(5, 60, (500, 2))
    assert check_anchors(head, sizes, anchor_t=4.0)
    pixels = (head.anchors * head.stride.view(-1, 1, 1)).view(-1, 2).numpy()
    assert anchor_fit(sizes, pixels, 4.0)[0] > 0.98
    assert (np.diff(pixels.prod(1)) >= 0).all()  # small anchors on P3, large on P5


def test_label_sizes_scale_to_the_long_side():
    shapes = np.array([[640.0, 320.0]])
    labels = [np.array([[0, 0.5, 0.5, 0.25, 0.5]])]
    sizes = label_sizes(shapes, labels, 320, np.random.default_rng(0))
    assert np.allclose(sizes / sizes[0, 0] * 40, [[40, 40]], rtol=1e-6)  # 0.25*320 wide, 0.5*160 high
