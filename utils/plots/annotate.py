"""Drawing boxes and labels on images with OpenCV (no fonts to download)."""

from __future__ import annotations

import cv2
import numpy as np

# 20 distinct BGR colours; class i always gets PALETTE[i % 20].
PALETTE = [
    (56, 56, 255),
    (151, 157, 255),
    (31, 112, 255),
    (29, 178, 255),
    (49, 210, 207),
    (10, 249, 72),
    (23, 204, 146),
    (134, 219, 61),
    (52, 147, 26),
    (187, 212, 0),
    (168, 153, 44),
    (255, 194, 0),
    (147, 69, 52),
    (255, 115, 100),
    (236, 24, 0),
    (255, 56, 132),
    (133, 0, 82),
    (255, 56, 203),
    (200, 149, 255),
    (199, 55, 255),
]


def class_color(class_index: int) -> tuple[int, int, int]:
    """A stable BGR colour for a class index."""
    return PALETTE[int(class_index) % len(PALETTE)]


def draw_box(
    image: np.ndarray,
    xyxy: np.ndarray | list[float],
    label: str = "",
    color: tuple[int, int, int] = (56, 56, 255),
    thickness: int = 2,
) -> np.ndarray:
    """Draw one ``xyxy`` pixel box on a BGR uint8 image in place, with ``label`` on a filled background."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in xyxy[:4])
    cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
    if label:
        scale = max(thickness / 3, 0.35)
        text_thickness = max(thickness - 1, 1)
        (width, height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, text_thickness)
        above = y1 - height - baseline - 2 >= 0
        top = y1 - height - baseline - 2 if above else y1
        cv2.rectangle(image, (x1, top), (x1 + width + 2, top + height + baseline + 2), color, -1, cv2.LINE_AA)
        text_color = (255, 255, 255) if sum(color) < 450 else (0, 0, 0)
        cv2.putText(
            image,
            label,
            (x1 + 1, top + height + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            text_color,
            text_thickness,
            cv2.LINE_AA,
        )
    return image
