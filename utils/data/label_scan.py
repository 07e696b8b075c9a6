"""Verify every image/label pair of a split once, in parallel, and cache the result beside the labels.

Labels produced here are ``float32 (n, 5)`` arrays ``[class, x_center, y_center, width, height]``, normalised
0..1 (``xywhn``). A bad line is dropped with a warning naming the file and the reason; a class id >= ``num_classes``
stops with :class:`UserError` because it means the dataset YAML and the labels disagree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.data.dataset_files import image_to_label_path
from utils.errors import UserError
from utils.image_io import ImageReadError, verify_image

LOGGER = logging.getLogger(__name__)
CACHE_VERSION = "1"
CLIP_TOLERANCE = 1e-3  # normalised values this far outside 0..1 are clipped; further out the line is rejected
MAX_LOGGED_MESSAGES = 30


@dataclass
class LabelFile:
    """Parsed content of one label file: kept boxes plus what was dropped and why."""

    labels: np.ndarray  # (n, 5) float32 [class, x, y, w, h] normalised
    dropped: int = 0
    duplicates: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    """Usable images of a split with their labels and original sizes, plus what the scan found."""

    images: list[str]
    labels: list[np.ndarray]  # per image (n, 5) float32 xywhn
    shapes: np.ndarray  # (N, 2) int (height, width) after EXIF orientation
    counts: dict[str, int]
    messages: list[str]

    def summary(self) -> str:
        """One line: found, missing, empty, corrupt, duplicates removed, bad lines dropped."""
        c = self.counts
        return (
            f"{c['found']} images with labels, {c['missing']} missing, {c['empty']} empty, {c['corrupt']} corrupt, "
            f"{c['duplicates']} duplicate labels removed, {c['dropped']} bad label lines dropped"
        )


def parse_label_file(path: str | Path, num_classes: int | None = None) -> LabelFile:
    """Read a YOLO label file; see the module docstring for the output and the rules.

    Lines are ``class x y w h`` (or ``class x1 y1 x2 y2 ...`` polygons, turned into their bounding box).
    """
    rows, reasons, dropped = [], [], 0
    for lineno, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        row, reason = _parse_line(line.split(), num_classes, f"{path}:{lineno}")
        if reason:
            reasons.append(f"line {lineno}: {reason}")
            dropped += row is None
        if row is not None:
            rows.append(row)
    labels = np.array(rows, dtype=np.float32).reshape(-1, 5)
    unique, first = np.unique(labels, axis=0, return_index=True)
    duplicates = len(labels) - len(unique)
    if duplicates:
        labels = labels[np.sort(first)]
        reasons.append(f"{duplicates} duplicate rows removed")
    return LabelFile(labels, dropped, duplicates, reasons)


def _parse_line(parts: list[str], num_classes: int | None, where: str) -> tuple[list[float] | None, str]:
    """Return ``(row or None, reason)``: a reason with a row means "fixed", without a row "dropped"."""
    if len(parts) != 5 and (len(parts) < 7 or len(parts) % 2 == 0):
        return None, f"expected 5 numbers 'class x y w h', got {len(parts)} values"
    try:
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        return None, f"non-numeric value in {' '.join(parts)!r}"
    if not np.isfinite(values).all():
        return None, "non-finite value"
    cls = values[0]
    if cls < 0 or cls != int(cls):
        return None, f"class id {parts[0]!r} is not a non-negative integer"
    if num_classes is not None and cls >= num_classes:
        raise UserError(
            f"{where}: class id {int(cls)} but the dataset YAML has nc={num_classes} (ids 0..{num_classes - 1})"
        )
    coords = values[1:]
    if coords.min() < -CLIP_TOLERANCE or coords.max() > 1 + CLIP_TOLERANCE:
        return None, f"coordinates outside 0..1: {' '.join(parts[1:])}"
    coords = coords.clip(0, 1)
    if len(coords) > 4:  # polygon -> bounding box
        xs, ys = coords[0::2], coords[1::2]
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max(), ys.max()
    else:
        x, y, w, h = coords
        x1, y1, x2, y2 = x - w / 2, y - h / 2, x + w / 2, y + h / 2
    clipped = min(x1, y1) < -CLIP_TOLERANCE or max(x2, y2) > 1 + CLIP_TOLERANCE
    x1, y1, x2, y2 = np.clip([x1, y1, x2, y2], 0, 1)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None, "zero-size box"
    row = [cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    return row, "box crosses the image border, clipped" if clipped else ""


def check_pair(image: str, label_file: str, num_classes: int | None = None) -> dict:
    """Verify one image and parse its labels. Returns a dict with ``status`` in found/missing/empty/corrupt."""
    result = {"image": image, "labels": np.zeros((0, 5), np.float32), "shape": (0, 0), "dropped": 0, "duplicates": 0}
    try:
        result["shape"] = verify_image(image)
    except ImageReadError as exc:
        return {**result, "status": "corrupt", "message": f"skipped {exc}"}
    if not os.path.isfile(label_file):
        return {**result, "status": "missing", "message": ""}
    parsed = parse_label_file(label_file, num_classes)
    message = f"{label_file}: {'; '.join(parsed.reasons)}" if parsed.reasons else ""
    status = "found" if len(parsed.labels) else "empty"
    return {
        **result,
        "status": status,
        "labels": parsed.labels,
        "dropped": parsed.dropped,
        "duplicates": parsed.duplicates,
        "message": message,
    }


def scan_labels(
    images: list[str],
    num_classes: int | None = None,
    cache_path: str | Path | None = None,
    workers: int = 8,
    prefix: str = "",
) -> ScanResult:
    """Check all ``images`` and their labels, reusing ``cache_path`` when nothing changed.

    The default cache is ``<labels folder>.cache`` beside the labels (e.g. ``labels/train.cache``); it is keyed by a
    hash of the file list, sizes, mtimes and ``num_classes``. A read-only folder only costs a warning.
    Logs the summary line and the per-file warnings.
    """
    label_files = [image_to_label_path(p) for p in images]
    if cache_path is None and label_files:
        cache_path = Path(label_files[0]).parent.with_suffix(".cache")
    key = files_hash(images + label_files, num_classes)
    result = load_cache(cache_path, key) if cache_path else None
    source = f"(cache {cache_path})"
    if result is None:
        result, source = _scan(images, label_files, num_classes, workers), ""
        if cache_path:
            save_cache(cache_path, key, result, prefix)
    for message in result.messages[:MAX_LOGGED_MESSAGES]:
        LOGGER.warning("%sWARNING %s", prefix, message)
    if len(result.messages) > MAX_LOGGED_MESSAGES:
        LOGGER.warning("%s... and %d more warnings", prefix, len(result.messages) - MAX_LOGGED_MESSAGES)
    LOGGER.info("%sScanned %d images: %s %s", prefix, len(images), result.summary(), source)
    return result


def _scan(images: list[str], label_files: list[str], num_classes: int | None, workers: int) -> ScanResult:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = list(pool.map(check_pair, images, label_files, [num_classes] * len(images)))
    counts = {k: 0 for k in ("found", "missing", "empty", "corrupt", "duplicates", "dropped")}
    kept = [c for c in checks if c["status"] != "corrupt"]
    for c in checks:
        counts[c["status"]] += 1
        counts["duplicates"] += c["duplicates"]
        counts["dropped"] += c["dropped"]
    return ScanResult(
        images=[c["image"] for c in kept],
        labels=[c["labels"] for c in kept],
        shapes=np.array([c["shape"] for c in kept], dtype=np.int64).reshape(-1, 2),
        counts=counts,
        messages=[c["message"] for c in checks if c["message"]],
    )


def files_hash(paths: list[str], num_classes: int | None = None) -> str:
    """SHA-256 of the paths, their sizes and modification times (missing files count too) and ``num_classes``."""
    digest = hashlib.sha256(f"{CACHE_VERSION}|{num_classes}".encode())
    for path in paths:
        try:
            st = os.stat(path)
            digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}|missing\n".encode())
    return digest.hexdigest()


def save_cache(cache_path: str | Path, key: str, result: ScanResult, prefix: str = "") -> bool:
    """Write the scan to ``cache_path`` (npz, no pickles); warn and return False when the folder is read-only."""
    cache_path = Path(cache_path)
    offsets = np.cumsum([0] + [len(lb) for lb in result.labels])
    tmp = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                key=np.array(key),
                images=np.array(result.images, dtype=str),
                shapes=result.shapes,
                offsets=offsets,
                labels=np.concatenate(result.labels) if result.labels else np.zeros((0, 5), np.float32),
                counts=np.array(json.dumps(result.counts)),
                messages=np.array(json.dumps(result.messages)),
            )
        os.replace(tmp, cache_path)
    except OSError as exc:
        LOGGER.warning("%sWARNING cache not saved, %s is not writeable (%s)", prefix, cache_path.parent, exc.strerror)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False
    return True


def load_cache(cache_path: str | Path, key: str) -> ScanResult | None:
    """The cached scan when ``cache_path`` exists and matches ``key``, else None (stale or unreadable)."""
    try:
        with np.load(cache_path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            offsets, labels = data["offsets"], data["labels"]
            return ScanResult(
                images=data["images"].tolist(),
                labels=[labels[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)],
                shapes=data["shapes"],
                counts=json.loads(str(data["counts"])),
                messages=json.loads(str(data["messages"])),
            )
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # a truncated or foreign file: rescan
        return None
