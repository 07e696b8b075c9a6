import math

import torch

from utils.train.loss import YoloLoss

ANCHORS = torch.tensor([[[1.25, 1.625], [2.0, 3.75], [4.125, 2.875]]])  # one level, grid units (P3 of yolov5s)


def head_output(batch: int = 1, size: int = 8, classes: int = 2, fill: float = 0.0) -> torch.Tensor:
    return torch.full((batch, 3, size, size, 5 + classes), fill, requires_grad=True)


def test_box_is_assigned_to_its_cell_and_two_neighbours():
    loss = YoloLoss(ANCHORS, 2)
    # centre (2.3, 5.7) cells: x frac 0.3 -> also the left cell; y frac 0.7 -> also the cell below
    target = torch.tensor([[0, 1, 2.3 / 8, 5.7 / 8, 1.5 / 8, 2.0 / 8]])
    image, anchor, gy, gx, box, anchor_wh, cls = loss._assign(head_output(), target, 0)
    cells = sorted(set(zip(gx.tolist(), gy.tolist())))
    assert cells == [(1, 5), (2, 5), (2, 6)]
    assert set(anchor.tolist()) == {0, 1, 2}  # 1.5 x 2.0 is within ratio 4 of every anchor here
    assert (cls == 1).all() and (image == 0).all()
    own = (gx == 2) & (gy == 5)
    assert torch.allclose(box[own][0], torch.tensor([0.3, 0.7, 1.5, 2.0]), atol=1e-5)
    left = (gx == 1) & (gy == 5)
    assert torch.allclose(box[left][0, :2], torch.tensor([1.3, 0.7]), atol=1e-5)  # offset from the neighbour


def test_anchor_ratio_threshold_excludes_far_shapes():
    loss = YoloLoss(ANCHORS, 2, anchor_t=4.0)
    tall = torch.tensor([[0, 0, 0.5, 0.5, 0.6 / 8, 7.5 / 8]])  # 0.6 x 7.5 cells
    _, anchor, *_ = loss._assign(head_output(), tall, 0)
    assert set(anchor.tolist()) == {1}  # only the 2.0 x 3.75 anchor: ratios 3.33 and 2.0


def test_objectness_loss_without_targets_matches_bce_by_hand():
    loss = YoloLoss(ANCHORS, 2, obj_gain=1.0)
    total, parts = loss([head_output(fill=0.0)], torch.zeros((0, 6)))
    expected = math.log(2) * 4.0  # BCE(logit 0, target 0) times the P3 balance
    assert math.isclose(parts["obj"].item(), expected, rel_tol=1e-6)
    assert parts["box"].item() == 0 and parts["cls"].item() == 0
    assert math.isclose(total.item(), expected, rel_tol=1e-6)


def test_perfect_box_prediction_has_zero_box_loss_and_gradients_flow():
    loss = YoloLoss(ANCHORS[:, :1], 1, box_gain=1.0)  # one anchor 1.25 x 1.625
    output = torch.zeros((1, 1, 8, 8, 6))
    # sigmoid(0) = 0.5 -> xy offset 0.5, wh = (2 * 0.5)^2 * anchor = anchor: a box of exactly the anchor's size
    target = torch.tensor([[0, 0, 3.5 / 8, 4.5 / 8, 1.25 / 8, 1.625 / 8]])
    output.requires_grad_(True)
    total, parts = loss([output], target)
    assert parts["box"].item() < 1e-6
    total.backward()
    assert output.grad.abs().sum() > 0
