import pytest
import torch
from torch import nn

from utils.inference.tta import SCALES, augmented_forward, scale_image

STRIDES = (8, 16, 32)


class SquareFinder(nn.Module):
    """Eval-mode stand-in for a detector: every output row is the box around the image's bright pixels.

    Rows come level by level like the real head (one per cell at strides 8, 16, 32) and carry their level in the
    objectness column (0.1, 0.2, 0.3), so the test can see which levels TTA kept.
    """

    stride = torch.tensor(STRIDES, dtype=torch.float32)

    def forward(self, images: torch.Tensor):
        batch, _, height, width = images.shape
        assert height % 32 == 0 and width % 32 == 0
        decoded, raw = [], []
        for level, stride in enumerate(STRIDES):
            ny, nx = height // stride, width // stride
            rows = torch.zeros(batch, ny * nx, 6)
            for b in range(batch):
                ys, xs = torch.nonzero(images[b, 0] > 0.9, as_tuple=True)
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                rows[b, :, :4] = torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)).float()
            rows[..., 4] = 0.1 * (level + 1)
            rows[..., 5] = 1.0
            decoded.append(rows)
            raw.append(torch.zeros(batch, 1, ny, nx, 6))
        return torch.cat(decoded, 1), raw


@pytest.mark.parametrize(("height", "width"), [(96, 160), (100, 150), (64, 64)])
def test_scaled_images_are_padded_to_the_stride(height, width):
    images = torch.rand(2, 3, height, width)
    for ratio in SCALES:
        scaled, (ratio_w, ratio_h) = scale_image(images, ratio, 32)
        assert scaled.shape[2] % 32 == 0 and scaled.shape[3] % 32 == 0
        assert ratio_w == pytest.approx(ratio, abs=0.5 / width + 1e-9)
        assert ratio_h == pytest.approx(ratio, abs=0.5 / height + 1e-9)


def test_boxes_map_back_to_the_input_image():
    images = torch.zeros(1, 3, 200, 250)  # neither side a multiple of 32 at any scale
    images[:, :, 40:100, 30:90] = 1.0  # xyxy (30, 40, 90, 100): off-centre, so a missed un-flip would show
    out = augmented_forward(SquareFinder(), images)
    expected = torch.tensor([60.0, 70.0, 60.0, 60.0])  # xywh
    assert (out[0, :, :4] - expected).abs().max() < 2.5  # resizing blurs the edges by about a pixel
    sizes = [(round(200 * s / 1) // 1, round(250 * s)) for s in SCALES]
    cells = [[(-(-h // 32) * 32 // st) * (-(-w // 32) * 32 // st) for st in STRIDES] for h, w in sizes]
    assert out.shape[1] == sum(cells[0][:2]) + sum(cells[1]) + sum(cells[2][1:])  # coarsest / finest level dropped


def test_real_model_runs_on_odd_sizes():
    from models.yolo import DetectionModel

    model = DetectionModel("yolov5n.yaml", nc=2).eval()
    with torch.inference_mode():
        out = augmented_forward(model, torch.rand(1, 3, 96, 128))
    assert out.shape[0] == 1 and out.shape[2] == 7 and torch.isfinite(out).all()
