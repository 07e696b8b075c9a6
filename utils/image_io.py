"""Read images the same way everywhere: BGR uint8 HxWx3, EXIF orientation applied, grayscale and alpha handled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

IMG_FORMATS = ("bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm")
MIN_IMAGE_SIZE = 10  # pixels; smaller images are rejected by the dataset scan
_EXIF_ORIENTATION = 0x0112
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 or 270 degrees


class ImageReadError(ValueError):
    """An image file that cannot be decoded, is truncated or is too small."""


def load_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` to a BGR uint8 array of shape (H, W, 3).

    EXIF orientation is applied (as a photo viewer shows it); grayscale becomes 3 channels, alpha is dropped and
    16-bit images are scaled to 8 bits. Raises :class:`ImageReadError` when the file cannot be decoded.
    """
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode also works for non-ASCII paths
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ImageReadError(f"{path}: cannot decode image")
    return img


def exif_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) of a PIL image after its EXIF orientation is applied."""
    width, height = img.size
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # broken EXIF blocks are common and harmless for the pixels
        orientation = 1
    return (height, width) if orientation in _SWAPS_SIDES else (width, height)


def verify_image(path: str | Path) -> tuple[int, int]:
    """Check ``path`` is a complete, supported image at least ``MIN_IMAGE_SIZE`` px; return ``(height, width)``.

    Reads headers only (fast enough to scan large datasets) plus the JPEG end marker to catch truncated files.
    Raises :class:`ImageReadError` with the reason.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:  # verify() leaves the file unusable; reopen for the size
            width, height = exif_size(img)
            fmt = (img.format or "").lower()
    except Exception as exc:
        raise ImageReadError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from exc
    if fmt not in IMG_FORMATS:
        raise ImageReadError(f"{path}: unsupported image format {fmt!r}")
    if min(width, height) < MIN_IMAGE_SIZE:
        raise ImageReadError(f"{path}: image {width}x{height} is under {MIN_IMAGE_SIZE} px")
    if fmt in ("jpeg", "mpo") and not _jpeg_has_end_marker(path):
        raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker)")
    return height, width


def _jpeg_has_end_marker(path: Path, tail: int = 1024) -> bool:
    """JPEG files end with FF D9; some writers append padding, so look in the last ``tail`` bytes."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - tail))
        return b"\xff\xd9" in f.read()
