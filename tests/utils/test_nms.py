import torch

from utils.nms import non_max_suppression


def prediction_from(rows: list[list[float]], num_classes: int = 2) -> torch.Tensor:
    """(1, N, 5 + nc) from rows ``[x, y, w, h, objectness, class probabilities...]``."""
    return torch.tensor([rows], dtype=torch.float32).view(1, -1, 5 + num_classes)


def test_overlapping_same_class_boxes_are_suppressed():
    pred = prediction_from([[50, 50, 20, 20, 0.9, 1, 0], [51, 51, 20, 20, 0.8, 1, 0], [150, 50, 20, 20, 0.7, 1, 0]])
    (out,) = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45)
    assert out.shape == (2, 6)
    assert torch.allclose(out[0, :4], torch.tensor([40.0, 40, 60, 60]))  # xywh -> xyxy
    assert out[:, 4].tolist() == [torch.tensor(0.9).item(), torch.tensor(0.7).item()]


def test_class_aware_unless_agnostic():
    pred = prediction_from([[50, 50, 20, 20, 0.9, 1, 0], [51, 51, 20, 20, 0.8, 0, 1]])
    assert non_max_suppression(pred)[0].shape[0] == 2
    assert non_max_suppression(pred, agnostic=True)[0].shape[0] == 1


def test_multi_label_keeps_every_class_above_threshold():
    pred = prediction_from([[50, 50, 20, 20, 1.0, 0.6, 0.5]])
    assert non_max_suppression(pred, conf_thres=0.3)[0][:, 5].tolist() == [0.0]
    assert sorted(non_max_suppression(pred, conf_thres=0.3, multi_label=True)[0][:, 5].tolist()) == [0.0, 1.0]


def test_classes_filter_and_max_det():
    rows = [[20 * i + 10, 10, 8, 8, 0.9 - i * 0.01, float(i % 2), float(1 - i % 2)] for i in range(20)]
    (out,) = non_max_suppression(prediction_from(rows), classes=[1])
    assert out.shape[0] == 10 and (out[:, 5] == 1).all()
    assert non_max_suppression(prediction_from(rows), max_det=5)[0].shape[0] == 5


def test_slow_batch_still_returns_every_box():
    """No time limit: YOLOv5 drops whole images once NMS has run 0.5 s + 0.05 s per image."""
    torch.manual_seed(0)
    batch, candidates = 8, 8000  # about 2 s here: past the 0.9 s that YOLOv5 would allow for 8 images
    xy = torch.rand(batch, candidates, 2) * 2000
    pred = torch.cat((xy, torch.full((batch, candidates, 2), 4.0), torch.rand(batch, candidates, 1) * 0.5 + 0.5,
                      torch.rand(batch, candidates, 3)), 2)
    out = non_max_suppression(pred, conf_thres=0.001, iou_thres=0.6, max_det=300, multi_label=True)
    assert len(out) == batch and all(o.shape[0] == 300 for o in out)
