"""Inputs the reference scripts feed the packages' losses: YOLOv5's gain scaling and random raw maps and targets.

Imported by the scripts in this folder (run by the reference venv's Python, so by file location, not as a package).
"""

import torch


def scale_gains(hyp: dict, levels: int, classes: int, image_size: int) -> dict:
    """The scaling both packages' train.py apply to the hyp file's gains, and label smoothing 0.1."""
    hyp["box"] *= 3 / levels
    hyp["cls"] *= classes / 80 * 3 / levels
    hyp["obj"] *= (image_size / 640) ** 2 * 3 / levels
    hyp["label_smoothing"] = 0.1
    return hyp


def random_raw_and_targets(batch: int, classes: int, image_size: int, boxes: int,
                           every_image: bool = False) -> tuple[list[torch.Tensor], torch.Tensor]:  # fmt: skip
    """Per-level raw maps (B, 3, ny, nx, 5 + classes) at strides 8/16/32 and (boxes, 6) normalised targets;
    ``every_image`` spreads the boxes over all images in turn instead of drawing each box's image."""
    generator = torch.Generator().manual_seed(1)
    raw = [
        torch.randn(batch, 3, image_size // s, image_size // s, 5 + classes, generator=generator) * 1.5
        for s in (8, 16, 32)
    ]
    centres = torch.rand(boxes, 2, generator=generator) * 0.8 + 0.1
    sizes = torch.rand(boxes, 2, generator=generator) * 0.3 + 0.02
    if every_image:
        images = torch.arange(boxes).remainder(batch).view(-1, 1).float()
    else:
        images = torch.randint(0, batch, (boxes, 1), generator=generator).float()
    labels = torch.randint(0, classes, (boxes, 1), generator=generator).float()
    return raw, torch.cat((images, labels, centres, sizes), 1)


def loss_record(head: torch.nn.Module, raw: list, targets: torch.Tensor, leaves: list, loss: torch.Tensor,
                parts: torch.Tensor, classes: int, image_size: int, **extra: object) -> dict:  # fmt: skip
    """What a parity test reads back: the inputs, the head's anchors, the loss, its parts and the raw maps' grads."""
    return {"raw": raw, "targets": targets, "anchors": head.anchors.clone(), "loss": loss.detach(), "parts": parts,
            "grads": [leaf.grad for leaf in leaves], "classes": classes, "image_size": image_size, **extra}  # fmt: skip
