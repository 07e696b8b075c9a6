import numpy as np
import pytest

from utils.letterbox import letterbox, stride_aligned


@pytest.mark.parametrize(
    ("shape", "auto", "expected"),
    [
        ((480, 640), True, (480, 640)),
        ((480, 640), False, (640, 640)),
        ((300, 500), True, (384, 640)),
        ((1000, 200), True, (640, 128)),
        ((1000, 200), False, (640, 640)),
    ],
)
def test_output_shape(shape, auto, expected):
    out, _, _ = letterbox(np.zeros((*shape, 3), np.uint8), 640, auto=auto, stride=32)
    assert out.shape == (*expected, 3)
    assert out.shape[0] % 32 == 0 and out.shape[1] % 32 == 0


def test_pixel_mapping_and_padding_colour():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 90:110] = 255  # a white square in the middle
    out, (rw, rh), (dw, dh) = letterbox(img, 320, auto=False)
    assert out.shape == (320, 320, 3)
    assert (rw, rh) == (1.6, 1.6) and (dw, dh) == (0.0, 80.0)
    assert (out[:80] == 114).all() and (out[-80:] == 114).all()
    ys, xs = np.nonzero(out[..., 0] > 200)
    assert abs(xs.min() - (90 * rw + dw)) <= 1 and abs(ys.min() - (40 * rh + dh)) <= 1


def test_no_scaleup_keeps_small_images_small():
    out, ratio, _ = letterbox(np.zeros((100, 120, 3), np.uint8), 640, auto=False, scaleup=False)
    assert ratio == (1.0, 1.0) and out.shape == (640, 640, 3)


def test_rectangular_target_shape():
    out, _, _ = letterbox(np.zeros((480, 640, 3), np.uint8), (256, 320), auto=False)
    assert out.shape == (256, 320, 3)


def test_stride_aligned():
    assert [stride_aligned(v, 32) for v in (1, 32, 33, 640.5)] == [32, 32, 64, 672]
