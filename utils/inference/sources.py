"""Everything ``detect.py --source`` accepts, turned into one stream of BGR images.

:func:`iterate_source` takes an image file, a folder (its files, not sub-folders, sorted), a glob, a ``.txt`` list
of paths (relative lines are relative to the list's folder), a video file, a webcam index (``"0"``), a stream URL
(``rtsp://``, ``rtmp://``, ``http(s)://`` video) or an ``http(s)://`` image URL, and yields one :class:`SourceItem`
per image or video frame.

Bad input: an unreadable image, a video that cannot be opened or a video with no frames is warned about and skipped;
a source that does not exist, a stream that cannot be opened or an image URL that cannot be downloaded raises
:class:`UserError` with the path or URL.
"""

from __future__ import annotations

import glob
import logging
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import cv2
import numpy as np

from utils.errors import UserError
from utils.image_io import IMG_FORMATS, ImageReadError, load_image

LOGGER = logging.getLogger(__name__)

VID_FORMATS = ("asf", "avi", "gif", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ts", "wmv", "webm")
STREAM_SCHEMES = ("rtsp", "rtmp", "http", "https")
URL_TIMEOUT_S = 10
DEFAULT_STREAM_FPS = 30.0


class SourceItem(NamedTuple):
    """One image or frame.

    ``path``: the file, URL or webcam index it came from. ``image``: BGR uint8 (H, W, 3), as read.
    ``frame``: 1-based frame number in the video or stream (counting skipped frames too), ``None`` for images.
    ``frames``: frames in the video, ``None`` for images and live streams.
    ``position``: log prefix, e.g. ``image 1/3 /data/a.jpg:`` or ``video 1/1 (frame 5/30) /data/v.mp4:``.
    ``fps``: frames per second of the source (after ``vid_stride``), ``None`` for images.
    """

    path: str
    image: np.ndarray
    frame: int | None
    frames: int | None
    position: str
    fps: float | None = None


def source_kind(source: str | int | Path) -> str:
    """``"webcam"``, ``"stream"``, ``"url_image"`` or ``"files"`` for a ``--source`` value (no I/O)."""
    text = str(source).strip()
    if text.isdigit():
        return "webcam"
    scheme = urlparse(text).scheme.lower()
    if scheme in STREAM_SCHEMES:
        suffix = Path(urlparse(text).path).suffix[1:].lower()
        return "url_image" if scheme in ("http", "https") and suffix in IMG_FORMATS else "stream"
    return "files"


def iterate_source(source: str | int | Path, vid_stride: int = 1) -> Iterator[SourceItem]:
    """An iterator over every image or frame of ``source`` (see the module docstring), keeping every
    ``vid_stride``-th video frame.

    The source is checked (files listed, stream opened, URL downloaded) before this returns, so a missing source
    raises :class:`UserError` here rather than at the first ``next()``.
    """
    if vid_stride < 1:
        raise UserError(f"--vid-stride {vid_stride}: expected an integer >= 1")
    kind = source_kind(source)
    name = str(source).strip()
    if kind in ("webcam", "stream"):
        return _read_stream(_open_stream(int(name) if kind == "webcam" else name, name), name, vid_stride)
    if kind == "url_image":
        return iter([SourceItem(name, download_image(name), None, None, f"image 1/1 {name}:")])
    return _read_files(list_source_files(source), vid_stride)


def list_source_files(source: str | Path) -> list[str]:
    """Image and video paths of a file, folder, glob or ``.txt`` list; raises :class:`UserError` when none."""
    text = str(source)
    path = Path(text).expanduser()
    if any(c in text for c in "*?["):
        files = sorted(glob.glob(str(path), recursive=True))
        if not files:
            raise UserError(f"{source}: no files match this pattern")
    elif path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file())
    elif path.is_file() and path.suffix.lower() == ".txt":
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        files = [line if Path(line).is_absolute() else str(path.parent / line) for line in lines]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise UserError(f"{path}: listed file not found: {missing[0]}")
    elif path.is_file():
        if not _is_media(text):
            raise UserError(f"{source}: not an image or video (expected one of {', '.join(IMG_FORMATS + VID_FORMATS)})")
        files = [text]
    else:
        raise UserError(
            f"{source}: source not found (expected an image, video, folder, glob, .txt list, webcam index or URL)"
        )
    media = [f for f in files if _is_media(f)]
    if not media:
        raise UserError(f"{source}: no images or videos found (supported: {', '.join(IMG_FORMATS + VID_FORMATS)})")
    return media


def download_image(url: str) -> np.ndarray:
    """Fetch an image URL into memory and decode it to BGR; raises :class:`UserError` when offline or not an image."""
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:
            data = np.frombuffer(response.read(), dtype=np.uint8)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"{url}: cannot download image ({reason})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"{url}: downloaded data is not an image")
    return image


def _is_media(path: str) -> bool:
    return Path(path).suffix[1:].lower() in IMG_FORMATS + VID_FORMATS


def _is_video(path: str) -> bool:
    return Path(path).suffix[1:].lower() in VID_FORMATS


def _read_files(files: list[str], vid_stride: int) -> Iterator[SourceItem]:
    count = len(files)
    for index, path in enumerate(files, 1):
        if _is_video(path):
            yield from _read_video(path, f"video {index}/{count}", vid_stride)
            continue
        try:
            image = load_image(path)
        except ImageReadError as error:
            LOGGER.warning("WARNING: skipping %s", error)
            continue
        yield SourceItem(path, image, None, None, f"image {index}/{count} {path}:")


def _read_video(path: str, prefix: str, vid_stride: int) -> Iterator[SourceItem]:
    """Frames of a video file; a file that cannot be opened, has no frames or breaks mid-way is warned about."""
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            LOGGER.warning("WARNING: skipping %s: cannot open video", path)
            return
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = _fps(capture) / vid_stride
        frame, yielded = 0, 0
        while True:
            image, frame = _next_frame(capture, frame, vid_stride)
            if image is None:
                break
            yielded += 1
            yield SourceItem(path, image, frame, total, f"{prefix} (frame {frame}/{total}) {path}:", fps)
        if yielded == 0:
            LOGGER.warning("WARNING: %s: video has no readable frames", path)
        elif total and frame < total - vid_stride:
            LOGGER.warning("WARNING: %s: video ended at frame %d of %d (broken frame?)", path, frame, total)
    finally:
        capture.release()


def _open_stream(address: str | int, name: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(address)
    if not capture.isOpened():
        capture.release()
        raise UserError(f"{name}: cannot open {'webcam' if isinstance(address, int) else 'stream'}")
    return capture


def _read_stream(capture: cv2.VideoCapture, name: str, vid_stride: int) -> Iterator[SourceItem]:
    """Frames of an opened webcam or network stream until it ends; releases the capture."""
    try:
        fps = _fps(capture) / vid_stride
        frame = 0
        while True:
            image, frame = _next_frame(capture, frame, vid_stride)
            if image is None:
                LOGGER.info("%s: stream ended after frame %d", name, frame)
                break
            yield SourceItem(name, image, frame, None, f"stream (frame {frame}) {name}:", fps)
    finally:
        capture.release()


def _next_frame(capture: cv2.VideoCapture, frame: int, vid_stride: int) -> tuple[np.ndarray | None, int]:
    """Skip ``vid_stride - 1`` frames with ``grab`` (no decode), then read one: (image or None, its frame number)."""
    for _ in range(vid_stride - 1):
        if not capture.grab():
            return None, frame
        frame += 1
    ok, image = capture.read()
    return (image, frame + 1) if ok and image is not None else (None, frame)


def _fps(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and math.isfinite(fps) and fps > 0 else DEFAULT_STREAM_FPS
