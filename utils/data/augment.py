"""Training augmentations that move boxes with the pixels: mosaic, mixup, random perspective, HSV and flips.

Geometric functions take and return ``labels`` as ``float (n, 5)`` arrays ``[class, x1, y1, x2, y2]`` in pixels of
the image they come with (``xyxy``); the flips work on normalised ``[class, x, y, w, h]`` (``xywhn``).
Every random draw comes from the ``rng`` argument so a seeded generator makes a run reproducible.
Images are BGR uint8 HxWx3.
"""

from __future__ import annotations

import cv2
import numpy as np

FILL = 114  # grey used for padding and for the parts of the canvas that no image covers


def augment_hsv(img: np.ndarray, hgain: float, sgain: float, vgain: float, rng: np.random.Generator) -> np.ndarray:
    """Random hue shift and saturation/value gains, each up to ``±gain`` (a fraction; hue wraps around)."""
    if not (hgain or sgain or vgain):
        return img
    gains = rng.uniform(-1, 1, 3) * (hgain, sgain, vgain) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_hue = ((x * gains[0]) % 180).astype(np.uint8)  # OpenCV hue is 0..179
    lut_sat = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def flip_lr(img: np.ndarray, labels_xywhn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; labels are ``[class, x, y, w, h]`` normalised."""
    labels = labels_xywhn.copy()
    labels[:, 1] = 1 - labels[:, 1]
    return np.ascontiguousarray(img[:, ::-1]), labels


def flip_ud(img: np.ndarray, labels_xywhn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror top-bottom; labels are ``[class, x, y, w, h]`` normalised."""
    labels = labels_xywhn.copy()
    labels[:, 2] = 1 - labels[:, 2]
    return np.ascontiguousarray(img[::-1]), labels


def perspective_matrix(
    in_shape: tuple[int, int],
    out_shape: tuple[int, int],
    degrees: float,
    translate: float,
    scale: float,
    shear: float,
    perspective: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Random 3x3 homography mapping input pixels (``in_shape`` h, w) into an output of ``out_shape``.

    The input centre moves to a random point within ``±translate`` (fraction) of the output centre after rotation
    by ``±degrees``, isotropic scaling by ``1 ± scale``, shear by ``±shear`` degrees and a projective tilt of
    ``±perspective``. Returns the matrix and the scale factor drawn.
    """
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -in_shape[1] / 2, -in_shape[0] / 2
    tilt = np.eye(3)
    tilt[2, 0], tilt[2, 1] = rng.uniform(-perspective, perspective, 2)
    rotate = np.eye(3)
    factor = rng.uniform(1 - scale, 1 + scale)
    rotate[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=rng.uniform(-degrees, degrees), scale=factor)
    skew = np.eye(3)
    skew[0, 1], skew[1, 0] = np.tan(np.radians(rng.uniform(-shear, shear, 2)))
    move = np.eye(3)
    move[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_shape[1]
    move[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_shape[0]
    return move @ skew @ rotate @ tilt @ centre, factor


def random_perspective(
    img: np.ndarray,
    labels: np.ndarray,
    degrees: float = 0.0,
    translate: float = 0.1,
    scale: float = 0.5,
    shear: float = 0.0,
    perspective: float = 0.0,
    border: tuple[int, int] = (0, 0),
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``img`` and its pixel ``xyxy`` labels with a random homography (see :func:`perspective_matrix`).

    The output is the input size plus ``2 * border`` (h, w); a negative border crops, which turns a 2s x 2s mosaic
    into s x s. Boxes are clipped to the output; boxes that leave it or keep under 10% of their area are dropped.
    """
    rng = rng or np.random.default_rng()
    out_h, out_w = img.shape[0] + 2 * border[0], img.shape[1] + 2 * border[1]
    matrix, factor = perspective_matrix(
        img.shape[:2], (out_h, out_w), degrees, translate, scale, shear, perspective, rng
    )
    fill = (FILL, FILL, FILL)
    if perspective:
        img = cv2.warpPerspective(img, matrix, dsize=(out_w, out_h), borderValue=fill)
    else:
        img = cv2.warpAffine(img, matrix[:2], dsize=(out_w, out_h), borderValue=fill)
    if len(labels) == 0:
        return img, labels
    boxes = transform_boxes(labels[:, 1:5], matrix, (out_h, out_w))
    keep = box_candidates(labels[:, 1:5] * factor, boxes)
    return img, np.concatenate([labels[keep, :1], boxes[keep]], axis=1)


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """Bounding boxes (``xyxy``, clipped to ``out_shape``) of ``xyxy`` boxes mapped by a 3x3 ``matrix``.

    When the map rotates or shears, a box crossing the border is clipped as the polygon it becomes, so the result is
    the box of its visible part rather than the (larger) clipped box of the whole polygon.
    """
    n = len(boxes)
    corners = np.ones((n * 4, 3))
    corners[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)  # x1y1, x2y2, x1y2, x2y1
    corners = corners @ matrix.T
    corners = (corners[:, :2] / corners[:, 2:3]).reshape(n, 4, 2)
    out = np.stack([corners[..., 0].min(1), corners[..., 1].min(1), corners[..., 0].max(1), corners[..., 1].max(1)], 1)
    out_h, out_w = out_shape
    axis_aligned = abs(matrix[0, 1]) < 1e-12 and abs(matrix[1, 0]) < 1e-12 and not matrix[2, :2].any()
    if not axis_aligned:
        crossing = (out[:, 0] < 0) | (out[:, 1] < 0) | (out[:, 2] > out_w) | (out[:, 3] > out_h)
        for i in np.flatnonzero(crossing):
            quad = corners[i][[0, 3, 1, 2]]  # x1y1, x2y1, x2y2, x1y2: polygon order
            out[i] = _clipped_polygon_box(quad, out_w, out_h)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, out_w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, out_h)
    return out


def _clipped_polygon_box(polygon: np.ndarray, width: float, height: float) -> np.ndarray:
    """Box of ``polygon`` (k, 2) clipped to the image rectangle (Sutherland-Hodgman, one image side at a time)."""
    points = [tuple(p) for p in polygon]
    for axis, limit, sign in ((0, 0.0, 1), (0, width, -1), (1, 0.0, 1), (1, height, -1)):
        clipped = []  # keep the points with sign * (p[axis] - limit) >= 0
        for j, cur in enumerate(points):
            prev = points[j - 1]
            cur_in, prev_in = sign * (cur[axis] - limit) >= 0, sign * (prev[axis] - limit) >= 0
            if cur_in != prev_in:
                t = (limit - prev[axis]) / (cur[axis] - prev[axis])
                clipped.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if cur_in:
                clipped.append(cur)
        points = clipped
        if not points:
            return np.zeros(4)
    xy = np.array(points)
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])


def box_candidates(
    before: np.ndarray, after: np.ndarray, min_side: float = 2, max_aspect: float = 100, min_area_ratio: float = 0.1
) -> np.ndarray:
    """Boolean mask of boxes to keep: sides over ``min_side`` px, aspect under ``max_aspect``, and at least
    ``min_area_ratio`` of the area they had ``before`` (already scaled by the augmentation's zoom)."""
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
    return (w2 > min_side) & (h2 > min_side) & (w2 * h2 / (w1 * h1 + 1e-16) > min_area_ratio) & (aspect < max_aspect)


def mosaic4(
    images: list[np.ndarray], labels: list[np.ndarray], size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Tile 4 images (each at most ``size`` px on its long side) around a random centre of a 2s x 2s grey canvas.

    ``labels[i]`` are pixel ``xyxy`` rows for ``images[i]``; the result's labels are in canvas pixels, clipped to
    the part of each image that stays visible. Follow with :func:`random_perspective` and ``border=(-s/2, -s/2)``
    to get an s x s training image.
    """
    canvas = np.full((2 * size, 2 * size, 3), FILL, dtype=np.uint8)
    xc, yc = (int(v) for v in rng.uniform(size / 2, 3 * size / 2, 2))
    out = []
    for quadrant, (img, lab) in enumerate(zip(images, labels, strict=True)):
        h, w = img.shape[:2]
        left = xc - w if quadrant in (0, 2) else xc  # quadrants: 0 top-left, 1 top-right, 2 bottom-left, 3 ...
        top = yc - h if quadrant in (0, 1) else yc
        x1, y1 = max(left, 0), max(top, 0)
        x2, y2 = min(left + w, 2 * size), min(top + h, 2 * size)
        canvas[y1:y2, x1:x2] = img[y1 - top : y2 - top, x1 - left : x2 - left]
        if len(lab):
            lab = lab.copy()
            lab[:, [1, 3]] = (lab[:, [1, 3]] + left).clip(x1, x2)
            lab[:, [2, 4]] = (lab[:, [2, 4]] + top).clip(y1, y2)
            out.append(lab)
    return canvas, np.concatenate(out) if out else np.zeros((0, 5), np.float32)


def mixup(
    img1: np.ndarray, labels1: np.ndarray, img2: np.ndarray, labels2: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Blend two same-size images (ratio ~ Beta(32, 32), about half each) and keep both label sets."""
    ratio = rng.beta(32.0, 32.0)
    img = (img1.astype(np.float32) * ratio + img2.astype(np.float32) * (1 - ratio)).astype(np.uint8)
    return img, np.concatenate([labels1, labels2], 0)
