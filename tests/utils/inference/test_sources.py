"""Every kind of --source: files, folders, globs, .txt lists, videos, webcams, streams and image URLs (local only)."""

from __future__ import annotations

import http.server
import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from utils.errors import UserError
from utils.inference.sources import iterate_source, list_source_files, source_kind


def write_image(path: Path, value: int = 100, size: tuple[int, int] = (48, 64)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def write_video(path: Path, frames: int = 6, fps: float = 12.0, size: tuple[int, int] = (64, 48)) -> Path:
    """An mp4v video of ``frames`` frames, each a different grey, ``size`` = (width, height)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize(
    "source, kind",
    [
        ("0", "webcam"),
        (1, "webcam"),
        ("rtsp://host/cam", "stream"),
        ("rtmp://host/live", "stream"),
        ("https://host/video.mp4", "stream"),
        ("http://host/live", "stream"),
        ("https://host/a/b.JPG", "url_image"),
        ("data/images", "files"),
        ("data/*.jpg", "files"),
    ],
)
def test_source_kind(source: str, kind: str) -> None:
    assert source_kind(source) == kind


def test_folder_skips_corrupt_and_other_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "c.png", 200)
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    write_image(tmp_path / "sub" / "d.jpg")  # folders are not searched recursively, as in YOLOv5
    with caplog.at_level(logging.WARNING):
        items = list(iterate_source(tmp_path))
    assert [Path(i.path).name for i in items] == ["a.jpg", "c.png"]
    assert items[0].position == f"image 1/3 {tmp_path / 'a.jpg'}:" and items[1].position.startswith("image 3/3 ")
    assert items[0].image.shape == (48, 64, 3) and items[0].frame is None and items[0].fps is None
    assert "b.jpg" in caplog.text


def test_glob_and_txt_list(tmp_path: Path) -> None:
    for name in ("x1.jpg", "x2.jpg", "y.png"):
        write_image(tmp_path / "imgs" / name)
    assert [Path(p).name for p in list_source_files(tmp_path / "imgs" / "x*.jpg")] == ["x1.jpg", "x2.jpg"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"imgs/y.png\n\n{tmp_path / 'imgs' / 'x1.jpg'}\n")
    assert [Path(p).name for p in list_source_files(listing)] == ["y.png", "x1.jpg"]
    listing.write_text("imgs/missing.jpg\n")
    with pytest.raises(UserError, match="listed file not found"):
        list_source_files(listing)


def test_video_frames_and_stride(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=6, fps=12.0)
    items = list(iterate_source(video))
    assert [i.frame for i in items] == [1, 2, 3, 4, 5, 6] and {i.frames for i in items} == {6}
    assert items[0].image.shape == (48, 64, 3) and items[0].fps == pytest.approx(12.0)
    assert items[4].position == f"video 1/1 (frame 5/6) {video}:"
    strided = list(iterate_source(video, vid_stride=2))
    assert [i.frame for i in strided] == [2, 4, 6] and strided[0].fps == pytest.approx(6.0)


def test_unreadable_video_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"garbage" * 10)
    writer = cv2.VideoWriter(str(tmp_path / "empty.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()  # no frames
    write_image(tmp_path / "ok.jpg")
    with caplog.at_level(logging.WARNING):
        items = list(iterate_source(tmp_path))
    assert [Path(i.path).name for i in items] == ["ok.jpg"]
    assert "broken.mp4" in caplog.text and "empty.mp4" in caplog.text


@pytest.mark.parametrize("source", ["missing_dir", "missing.jpg", "missing/*.jpg"])
def test_missing_source(tmp_path: Path, source: str) -> None:
    with pytest.raises(UserError, match="missing"):
        list(iterate_source(tmp_path / source))


def test_folder_without_media(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(UserError, match="no images or videos found"):
        list(iterate_source(tmp_path))


@pytest.mark.parametrize("source", ["99", "rtsp://127.0.0.1:9/none", "http://127.0.0.1:9/live"])
def test_stream_that_cannot_open(source: str) -> None:
    with pytest.raises(UserError, match=r"cannot open (webcam|stream)") as error:
        list(iterate_source(source))
    assert source in str(error.value)


def test_bad_vid_stride(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="vid-stride"):
        list(iterate_source(tmp_path, vid_stride=0))


def test_image_url_served_locally(tmp_path: Path) -> None:
    write_image(tmp_path / "pic.png", 77)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pic.png"
        (item,) = list(iterate_source(url))
        assert item.image.shape == (48, 64, 3) and int(item.image[0, 0, 0]) == 77 and item.path == url
        with pytest.raises(UserError, match="cannot download image"):
            list(iterate_source(url.replace("pic.png", "absent.png")))
    finally:
        server.shutdown()
        server.server_close()


def test_image_url_offline() -> None:
    with pytest.raises(UserError, match=r"http://127.0.0.1:9/a.jpg: cannot download image"):
        list(iterate_source("http://127.0.0.1:9/a.jpg"))
