"""The self-check every export runs: the exported file and the PyTorch model on the same letterboxed image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.errors import UserError
from utils.image_io import ImageReadError, load_image
from utils.letterbox import letterbox

ABSOLUTE_TOLERANCE = 1e-3  # float32: probabilities, and box coordinates (pixels) up to 10 px
RELATIVE_TOLERANCE = 1e-4  # float32 rounding through a deep network reaches ~3e-5 relative on large box sizes
TOLERANCE_TEXT = f"{ABSOLUTE_TOLERANCE:g} + {RELATIVE_TOLERANCE:g} x |value|"  # the rule, as messages state it


@dataclass(frozen=True)
class Comparison:
    """``max_abs_diff``: max over every output value of ``|exported - pytorch|``. ``close``: every value within
    ``1e-3 + 1e-4 * |pytorch|`` (``torch.isclose``'s rule): 1e-3 for probabilities, 1e-4 relative for box coordinates
    of more than 10 px. A flat 1e-3 on a 640 px coordinate would ask for 1.6e-6 relative, which float32 rounding through
    a deep network does not give even for a correct export (measured: up to 3e-5 on an untrained yolov5n)."""

    max_abs_diff: float
    close: bool


def check_images(imgsz: tuple[int, int], batch_size: int = 1, image: str | Path | None = None) -> torch.Tensor:
    """The check input: ``(batch_size, 3, H, W)`` float32 RGB 0..1 with ``(H, W) == imgsz``.

    ``image`` is a photo to letterbox (grey padding, as at inference time); without one, a seeded synthetic scene
    from :mod:`utils.data.synthetic` (shapes on a textured background, 160..320 px, not square) is letterboxed instead,
    so the check needs no file. Every image of the batch is the same.
    """
    if image is None:
        from utils.data.synthetic import synthetic_image

        picture = synthetic_image(np.random.default_rng(0))[0]
    else:
        try:
            picture = load_image(image)
        except (ImageReadError, OSError) as error:
            raise UserError(f"--check-image: {error}") from None
    boxed = letterbox(picture, imgsz, auto=False)[0]
    array = np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1))  # BGR HWC -> RGB CHW
    tensor = torch.from_numpy(array).float().div_(255).unsqueeze(0)
    return tensor.expand(batch_size, -1, -1, -1).contiguous()


def compare_outputs(path: str | Path, reference: nn.Module, images: torch.Tensor, half: bool = False) -> Comparison:
    """How far the outputs of the exported model at ``path`` (run through ``DetectMultiBackend``, so its
    metadata is read too) and ``reference`` (a ``decoded_only`` PyTorch model) on ``images`` (B, 3, H, W) 0..1.

    Both outputs are the decoded ``(B, N, 5 + nc)``: xywh in pixels, then probabilities; so 1e-3 is a thousandth of
    a pixel or of a probability. ``half`` runs the exported model in float16 where the runtime needs to be told.
    """
    from utils.inference.backends import DetectMultiBackend

    backend = DetectMultiBackend(path, images.device, fp16=half)
    with torch.inference_mode():
        expected = reference(images.to(next(reference.parameters()).dtype)).float()
        actual = backend(images)
    if actual.shape != expected.shape:
        raise RuntimeError(f"{path}: output shape {tuple(actual.shape)} differs from PyTorch's {tuple(expected.shape)}")
    close = bool(torch.isclose(actual, expected, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE).all())
    return Comparison(float((actual - expected).abs().max()), close)
