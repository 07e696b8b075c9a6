"""Find the image files of a dataset split and the label file that belongs to each image."""

from __future__ import annotations

import os
from pathlib import Path

from utils.errors import UserError
from utils.image_io import IMG_FORMATS

SplitSource = str | Path | list[str | Path] | tuple[str | Path, ...]


def list_images(source: SplitSource) -> list[str]:
    """Sorted, de-duplicated absolute image paths of a split.

    ``source`` is a folder (searched recursively), a ``.txt`` file listing one image path per line (relative lines
    are relative to the list's folder, as in YOLOv5), a single image, or a list of those.
    Raises :class:`UserError` for a path that does not exist.
    """
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    files: list[str] = []
    for item in sources:
        files.extend(_images_in(Path(item)))
    return sorted(set(files))


def _images_in(path: Path) -> list[str]:
    if path.is_dir():
        return [str(p.resolve()) for p in path.rglob("*") if _is_image(p) and p.is_file()]
    if path.is_file() and path.suffix.lower() == ".txt":
        root = path.parent
        lines = [line.strip() for line in path.read_text().splitlines()]
        out = []
        for line in filter(None, lines):
            p = Path(line)
            p = p if p.is_absolute() else root / p
            if _is_image(p):
                out.append(str(p.resolve()))
        return out
    if path.is_file() and _is_image(path):
        return [str(path.resolve())]
    raise UserError(f"{path}: not found (expected a folder of images, a .txt list of images, or an image)")


def _is_image(path: Path) -> bool:
    return path.suffix[1:].lower() in IMG_FORMATS


def image_to_label_path(image_path: str | Path) -> str:
    """Label path of an image: the last ``/images/`` folder becomes ``/labels/`` and the suffix ``.txt``.

    ``datasets/coco/images/train2017/0001.jpg`` -> ``datasets/coco/labels/train2017/0001.txt``.
    """
    image_path = str(image_path)
    images_dir, labels_dir = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    head, sep, tail = image_path.rpartition(images_dir)
    base = f"{head}{labels_dir}{tail}" if sep else image_path
    return str(Path(base).with_suffix(".txt"))
