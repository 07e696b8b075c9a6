import numpy as np
import pytest
import torch

from utils.boxes import (
    box_iou,
    clip_boxes,
    scale_boxes,
    xywh_to_xyxy,
    xywhn_to_xyxy,
    xyxy_to_xywh,
    xyxy_to_xywhn,
)
from utils.letterbox import letterbox


@pytest.mark.parametrize("to_array", [np.array, torch.tensor])
def test_xyxy_xywh_round_trip(to_array):
    xyxy = to_array([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 1.0, 2.0]])
    xywh = xyxy_to_xywh(xyxy)
    assert type(xywh) is type(xyxy)
    assert np.allclose(np.asarray(xywh), [[30, 50, 40, 60], [0.5, 1, 1, 2]])
    assert np.allclose(np.asarray(xywh_to_xyxy(xywh)), np.asarray(xyxy))


@pytest.mark.parametrize("to_array", [np.array, torch.tensor])
def test_normalised_round_trip_with_padding(to_array):
    xywhn = to_array([[0.5, 0.5, 0.2, 0.4]])
    xyxy = xywhn_to_xyxy(xywhn, 200, 100, padw=10, padh=5)
    assert np.allclose(np.asarray(xyxy), [[80 + 10, 30 + 5, 120 + 10, 70 + 5]])
    back = xyxy_to_xywhn(xywhn_to_xyxy(xywhn, 200, 100), 200, 100)
    assert np.allclose(np.asarray(back), np.asarray(xywhn))


def test_inputs_are_not_modified_and_ints_become_float():
    boxes = np.array([[1, 2, 5, 6]])
    out = xyxy_to_xywh(boxes)
    assert boxes.tolist() == [[1, 2, 5, 6]]
    assert out.dtype.kind == "f" and out.tolist() == [[3.0, 4.0, 4.0, 4.0]]
    t = torch.tensor([[-5.0, -5.0, 300.0, 50.0]])
    clipped = clip_boxes(t, (100, 200))
    assert t.tolist() == [[-5.0, -5.0, 300.0, 50.0]]
    assert clipped.tolist() == [[0.0, 0.0, 200.0, 50.0]]


def test_xyxy_to_xywhn_clip():
    out = xyxy_to_xywhn(np.array([[-10.0, 0.0, 50.0, 100.0]]), 100, 100, clip=True)
    assert np.allclose(out, [[0.25, 0.5, 0.5, 1.0]])


@pytest.mark.parametrize("to_array", [np.array, torch.tensor])
def test_box_iou(to_array):
    a = to_array([[0.0, 0.0, 10.0, 10.0]])
    b = to_array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    iou = np.asarray(box_iou(a, b))
    assert iou.shape == (1, 3)
    assert np.allclose(iou, [[1.0, 1 / 3, 0.0]], atol=1e-6)


def test_scale_boxes_undoes_letterbox():
    img = np.zeros((300, 500, 3), np.uint8)
    boxed, ratio, (dw, dh) = letterbox(img, 640, auto=False)
    original = np.array([[50.0, 60.0, 400.0, 250.0]])
    in_letterbox = original.copy()
    in_letterbox[:, 0::2] = original[:, 0::2] * ratio[0] + dw
    in_letterbox[:, 1::2] = original[:, 1::2] * ratio[1] + dh
    for ratio_pad in (None, ((ratio[1], ratio[0]), (dw, dh))):
        back = scale_boxes(in_letterbox, boxed.shape[:2], img.shape[:2], ratio_pad)
        assert np.allclose(back, original, atol=0.5)
