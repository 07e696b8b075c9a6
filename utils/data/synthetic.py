"""The built-in "shapes" dataset: coloured circles, rectangles and triangles on textured backgrounds.

Seeded and small (about a second to build) so the demo and tests need no download. Each image is built from its own
generator seeded with ``(seed, split, index)``, so the same seed always gives the same files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml

SHAPE_NAMES = ("circle", "rectangle", "triangle")
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def textured_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random colour blobs plus pixel noise, BGR uint8."""
    coarse = rng.uniform(40, 215, (rng.integers(3, 8), rng.integers(3, 8), 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 12, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated, bright BGR colour, so shapes stand out from the muted background."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(180, 256), rng.integers(160, 256)]]], dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_shape(img: np.ndarray, cls: int, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """Draw shape ``cls`` filling pixel box ``(x1, y1, x2, y2)`` (inclusive) exactly, in place."""
    x1, y1, x2, y2 = box
    colour = random_colour(rng)
    if SHAPE_NAMES[cls] == "circle":
        r = (x2 - x1) // 2
        cv2.circle(img, (x1 + r, y1 + r), r, colour, thickness=-1, lineType=cv2.LINE_8)
    elif SHAPE_NAMES[cls] == "rectangle":
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, thickness=-1)
    else:
        apex = (int(rng.integers(x1, x2 + 1)), y1)
        cv2.fillPoly(img, [np.array([(x1, y2), (x2, y2), apex], np.int32)], colour, lineType=cv2.LINE_8)


def synthetic_image(rng: np.random.Generator, size_range: tuple[int, int] = (160, 320)) -> tuple[np.ndarray, list]:
    """One image and its labels ``[class, x, y, w, h]`` (normalised), 0 to 5 non-overlapping shapes."""
    height, width = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, 2))
    img = textured_background(height, width, rng)
    boxes: list[tuple[int, int, int, int]] = []
    labels = []
    for _ in range(int(rng.integers(0, 6))):
        cls = int(rng.integers(len(SHAPE_NAMES)))
        for _attempt in range(20):
            side = int(rng.uniform(0.12, 0.4) * min(height, width))
            w = side if SHAPE_NAMES[cls] == "circle" else int(side * rng.uniform(0.6, 1.6))
            w = min(w, width - 2) // 2 * 2  # even, so a circle's box is exactly 2r
            h = w if SHAPE_NAMES[cls] == "circle" else side
            x1, y1 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            box = (x1, y1, x1 + w, y1 + h)
            if all(box[2] < b[0] - 2 or box[0] > b[2] + 2 or box[3] < b[1] - 2 or box[1] > b[3] + 2 for b in boxes):
                break
        else:
            continue
        draw_shape(img, cls, box, rng)
        boxes.append(box)
        bw, bh = box[2] - box[0] + 1, box[3] - box[1] + 1  # inclusive pixel extent
        labels.append([cls, (box[0] + bw / 2) / width, (box[1] + bh / 2) / height, bw / width, bh / height])
    return img, labels


def build_shapes(out: str | Path, num_train: int = 128, num_val: int = 32, seed: int = 0) -> Path:
    """Write the dataset to ``out`` (``images/{train,val}``, ``labels/...``, ``data.yaml`` with ``out`` as its
    absolute ``path``, as the converters write it); return ``out``.

    Builds in a temporary sibling folder and renames it, so an interrupted build never leaves a partial dataset.
    """
    out = Path(out).resolve()
    tmp = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for split, count in (("train", num_train), ("val", num_val)):
        (tmp / "images" / split).mkdir(parents=True)
        (tmp / "labels" / split).mkdir(parents=True)
        for i in range(count):
            img, labels = synthetic_image(np.random.default_rng([seed, SPLIT_IDS[split], i]))
            cv2.imwrite(str(tmp / "images" / split / f"{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines = [f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, x, y, w, h in labels]
            (tmp / "labels" / split / f"{i:05d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    data = {"path": str(out), "train": "images/train", "val": "images/val", "names": list(SHAPE_NAMES)}
    (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
