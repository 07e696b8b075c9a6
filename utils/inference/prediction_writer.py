"""What ``predict()`` leaves in its run folder: annotated images and videos, YOLO label files, crops.

Layout of ``save_dir``::

    a.jpg                      annotated image, same name as the source image
    v.mp4                      annotated video (mp4v), the source's frame size and fps (fps / vid_stride)
    labels/a.txt               one line per detection: ``class x_center y_center width height [conf]``,
    labels/v_12.txt            normalised 0..1 (YOLO format); video frames are ``<stem>_<frame>.txt``
    crops/<class name>/a.jpg   each detection cut from the unannotated image (``a_2.jpg``, ... when repeated)
    predictions.csv            (``--save-csv``) one row per detection, written as detection goes; columns
                               ``Image Name`` (the source's file name, ``<stem>_<frame>`` for a video frame),
                               ``Prediction`` (class name), ``Confidence`` (0..1, 6 decimals) and
                               ``x1, y1, x2, y2`` (box corners in pixels of the original image, 2 decimals)

A label file is written only for images with at least one detection, as YOLOv5 does.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np

from utils.boxes import clip_boxes, xywh_to_xyxy, xyxy_to_xywh, xyxy_to_xywhn
from utils.inference.sources import SourceItem
from utils.plots.annotate import class_color, draw_box

LOGGER = logging.getLogger(__name__)

WRITABLE_IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
CROP_GAIN, CROP_PAD = 1.02, 10  # crops are the box enlarged 2 % plus 10 px, as in YOLOv5's save_one_box
CSV_COLUMNS = ("Image Name", "Prediction", "Confidence", "x1", "y1", "x2", "y2")  # YOLOv5's three, then the box


def annotate_detections(
    image: np.ndarray,
    detections: np.ndarray,
    names: list[str],
    line_thickness: int = 3,
    hide_labels: bool = False,
    hide_conf: bool = False,
) -> np.ndarray:
    """A copy of BGR ``image`` with ``detections`` (n, 6: xyxy pixels, conf, class) drawn, one colour per class."""
    out = image.copy()
    for *xyxy, conf, cls in detections.tolist():
        label = "" if hide_labels else (names[int(cls)] if hide_conf else f"{names[int(cls)]} {conf:.2f}")
        draw_box(out, xyxy, label, class_color(int(cls)), line_thickness)
    return out


def crop_box(image: np.ndarray, xyxy: list[float] | np.ndarray) -> np.ndarray:
    """The part of ``image`` (H, W, C) under the pixel box ``xyxy``, enlarged as YOLOv5's crops are and clipped to the
    image: a view, empty (size 0) when the box lies outside the image."""
    box = xyxy_to_xywh(np.array(xyxy, dtype=np.float32))
    box[2:] = box[2:] * CROP_GAIN + CROP_PAD
    x1, y1, x2, y2 = clip_boxes(xywh_to_xyxy(box), image.shape[:2]).round().astype(int).tolist()
    return image[y1 : max(y1, y2), x1 : max(x1, x2)]


def output_stem(path: str) -> str:
    """File stem for a source path, URL or webcam index (``rtsp://host/cam1`` -> ``cam1``, ``0`` -> ``0``)."""
    parsed = urlparse(path)
    if parsed.scheme and len(parsed.scheme) > 1:  # a one-letter scheme is a Windows drive
        name = Path(parsed.path).stem or parsed.netloc
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "stream"
    return Path(path).stem


def frame_stem(item: SourceItem) -> str:
    """The stem of an image's or frame's output files: ``a`` for ``a.jpg``, ``v_12`` for frame 12 of ``v.mp4``."""
    stem = output_stem(item.path)
    return stem if item.frame is None else f"{stem}_{item.frame}"


class PredictionWriter:
    """Saves each image or frame's results; call :meth:`close` at the end to finish the videos."""

    def __init__(
        self,
        save_dir: Path,
        names: list[str],
        save_image: bool = True,
        save_txt: bool = False,
        save_conf: bool = False,
        save_crop: bool = False,
        save_csv: bool = False,
    ) -> None:
        self.save_dir, self.names = Path(save_dir), names
        self.save_image, self.save_txt, self.save_conf, self.save_crop = save_image, save_txt, save_conf, save_crop
        self.labels_saved = 0
        self._video_path: str | None = None
        self._video_writer: cv2.VideoWriter | None = None
        if save_image or save_txt or save_crop or save_csv:  # --nosave alone: no folder at all
            self.save_dir.mkdir(parents=True, exist_ok=True)
        if save_txt:
            (self.save_dir / "labels").mkdir(exist_ok=True)
        self._csv_file = open(self.save_dir / "predictions.csv", "w", newline="") if save_csv else None
        if self._csv_file is not None:
            self._csv = csv.writer(self._csv_file)
            self._csv.writerow(CSV_COLUMNS)

    def write(self, item: SourceItem, detections: np.ndarray, annotated: np.ndarray) -> None:
        """Save one result; ``detections`` is (n, 6) xyxy pixels of ``item.image``, conf, class."""
        stem, file_stem = output_stem(item.path), frame_stem(item)
        if self.save_txt and len(detections):
            self._write_labels(self.save_dir / "labels" / f"{file_stem}.txt", detections, item.image.shape[:2])
        if self._csv_file is not None:
            self._write_csv(Path(item.path).name if item.frame is None else file_stem, detections)
        if self.save_crop:
            for *xyxy, _, cls in detections.tolist():
                self._save_crop(item.image, xyxy, self.names[int(cls)], file_stem)
        if not self.save_image:
            return
        if item.frame is None:
            self._save_image(item.path, stem, annotated)
        else:
            self._append_frame(item, stem, annotated)

    def close(self) -> None:
        """Finish the open video and ``predictions.csv``."""
        self._release_video()
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None

    def _release_video(self) -> None:
        if self._video_writer is not None:
            self._video_writer.release()
        self._video_writer, self._video_path = None, None

    def _write_csv(self, image_name: str, detections: np.ndarray) -> None:
        for *xyxy, conf, cls in detections.tolist():
            self._csv.writerow([image_name, self.names[int(cls)], f"{conf:.6f}", *(f"{v:.2f}" for v in xyxy)])
        self._csv_file.flush()  # rows are on disk as each image is done: a stopped stream keeps what it found

    def _write_labels(self, path: Path, detections: np.ndarray, shape: tuple[int, int]) -> None:
        xywhn = xyxy_to_xywhn(detections[:, :4], shape[1], shape[0])
        lines = []
        for box, conf, cls in zip(xywhn.tolist(), detections[:, 4].tolist(), detections[:, 5].tolist()):
            values = [f"{v:.6f}" for v in box] + ([f"{conf:.6f}"] if self.save_conf else [])
            lines.append(" ".join([str(int(cls)), *values]))
        path.write_text("\n".join(lines) + "\n")
        self.labels_saved += 1

    def _save_crop(self, image: np.ndarray, xyxy: list[float], class_name: str, stem: str) -> None:
        patch = crop_box(image, xyxy)
        if not patch.size:
            return
        folder = self.save_dir / "crops" / class_name
        folder.mkdir(parents=True, exist_ok=True)
        path, number = folder / f"{stem}.jpg", 2
        while path.exists():
            path, number = folder / f"{stem}_{number}.jpg", number + 1
        cv2.imwrite(str(path), patch)

    def _save_image(self, source_path: str, stem: str, annotated: np.ndarray) -> None:
        suffix = Path(urlparse(source_path).path).suffix.lower()
        name = Path(source_path).name if suffix in WRITABLE_IMAGE_SUFFIXES else f"{stem}.jpg"
        if not cv2.imwrite(str(self.save_dir / name), annotated):
            LOGGER.warning("WARNING: could not write %s", self.save_dir / name)

    def _append_frame(self, item: SourceItem, stem: str, annotated: np.ndarray) -> None:
        if item.path != self._video_path:
            self._release_video()
            height, width = annotated.shape[:2]
            path = self.save_dir / f"{stem}.mp4"
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._video_writer = cv2.VideoWriter(str(path), fourcc, float(item.fps or 30.0), (width, height))
            self._video_path = item.path
        self._video_writer.write(annotated)
