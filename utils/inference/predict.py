"""Run a detector over any ``--source`` and save what it finds: the function behind ``detect.py``.

:func:`predict` = :class:`~utils.inference.backends.DetectMultiBackend` (any model format) +
:func:`~utils.inference.sources.iterate_source` (any input) + :func:`detect_image` (letterbox, forward, NMS, boxes
back to the original image) + :class:`~utils.inference.prediction_writer.PredictionWriter` (annotated images/videos,
labels, crops, predictions.csv in ``runs/detect/expN``) + :class:`~utils.inference.visualize.FeatureVisualizer`
(``--visualize``: feature maps per stage).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from utils.boxes import scale_boxes
from utils.errors import UserError
from utils.inference.options import PredictOptions
from utils.inference.prediction_writer import PredictionWriter, annotate_detections, frame_stem
from utils.inference.sources import iterate_source
from utils.letterbox import height_width, letterbox, stride_aligned
from utils.run_dir import increment_path
from utils.timing import LapClock

if TYPE_CHECKING:  # torch is imported only on the torch path: an ONNX/OpenVINO model on the CPU runs without it
    from utils.inference.backends import DetectMultiBackend

LOGGER = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """What :func:`predict` did. ``speed_ms``: mean milliseconds per image for ``preprocess``, ``inference``, ``nms``.
    ``class_counts``: detections per class name over all images. ``images``: images and frames processed."""

    save_dir: Path
    images: int = 0
    class_counts: Counter = field(default_factory=Counter)
    speed_ms: dict[str, float] = field(default_factory=dict)
    labels_saved: int = 0
    input_shape: tuple[int, ...] = ()


def predict(options: PredictOptions) -> PredictSummary:
    """Detect objects in every image or frame of ``options.source`` with ``options.weights`` and save the results.

    Flags mean what YOLOv5's ``detect.py`` flags of the same names mean. Raises :class:`UserError` for missing
    weights or source, a stream that cannot be opened, or bad options; unreadable images are warned about and skipped.
    """
    opt = options
    sources = iterate_source(opt.source, opt.vid_stride)  # checks the source first: a typo fails before the model loads
    backend, detect, header = open_detector(opt.weights, opt.device, opt.half)
    for flag, wanted in (("--augment", opt.augment), ("--visualize", opt.visualize)):
        if wanted and backend.model is None:
            raise UserError(f"{flag} works with .pt weights only, not {backend.format} ({opt.weights})")
    _check_classes(opt.classes, backend.names)
    shape = input_shape(opt.imgsz, backend.stride, backend.fixed_shape)
    LOGGER.info("%s", header())  # once the inputs are known to be good: a bad one gets its error alone
    saves = not opt.nosave or opt.save_txt or opt.save_crop or opt.save_csv or opt.visualize
    save_dir = increment_path(Path(opt.project) / opt.name, exist_ok=opt.exist_ok, mkdir=saves)
    writer = PredictionWriter(save_dir, backend.names, not opt.nosave, opt.save_txt, opt.save_conf, opt.save_crop,
                              opt.save_csv)  # fmt: skip
    visualizer = None
    if opt.visualize:
        from utils.inference.visualize import FeatureVisualizer

        visualizer = FeatureVisualizer(backend.model, save_dir)
    summary = PredictSummary(save_dir)
    totals = np.zeros(3)
    view_img = opt.view_img
    detect_args = (opt.conf_thres, opt.iou_thres, opt.classes, opt.agnostic_nms, opt.max_det, opt.augment)
    if str(backend.device).startswith("cuda"):
        backend.warmup(shape)
    try:
        for item in sources:
            with visualizer.image(frame_stem(item)) if visualizer else contextlib.nullcontext():
                detections, seconds, tensor_shape = detect(item.image, shape, *detect_args)
            totals += seconds
            summary.images += 1
            summary.input_shape = tensor_shape
            counts = Counter(backend.names[int(c)] for c in detections[:, 5])
            summary.class_counts.update(counts)
            LOGGER.info("%s %s %s, %.1fms", item.position, "x".join(map(str, tensor_shape[2:])),
                        _describe(counts, backend.names), seconds[1] * 1e3)  # fmt: skip
            annotated = annotate_detections(item.image, detections, backend.names, opt.line_thickness, opt.hide_labels,
                                            opt.hide_conf)  # fmt: skip
            writer.write(item, detections, annotated)
            if view_img:
                view_img = _show(item.path, annotated)
    finally:
        writer.close()
        if visualizer:
            visualizer.remove()
    summary.labels_saved = writer.labels_saved
    _log_summary(summary, totals, opt.save_txt, saves)
    return summary


def open_detector(weights: str, device: str, half: bool):
    """(backend, ``detect(image, shape, conf, iou, classes, agnostic, max_det, augment)``, banner callable).

    An ONNX file on the CPU or an OpenVINO, NCNN or TFLite model goes through
    :class:`~utils.deploy.detector.NumpyDetector`, which imports no torch; everything else through
    :class:`~utils.inference.backends.DetectMultiBackend` and :func:`detect_image`.
    """
    from utils.deploy.detector import NumpyDetector, runs_without_torch

    if runs_without_torch(weights, device):
        backend = NumpyDetector(weights, half)
        return backend, backend.detect, backend.banner
    from utils.device import select_device
    from utils.environment import banner
    from utils.inference.backends import DetectMultiBackend

    backend = DetectMultiBackend(weights, select_device(device), fp16=half)
    return backend, partial(detect_image, backend), partial(banner, backend.device)


def input_shape(imgsz: int | Sequence[int], stride: int, fixed_shape: tuple[int, int] | None) -> tuple[int, int]:
    """(H, W) to letterbox to: a static model's own size, else ``imgsz`` rounded up to a multiple of ``stride``.

    ``imgsz`` is one size for both sides or ``(H, W)`` (YOLOv5's ``--imgsz 640`` / ``--imgsz 480 640``).
    """
    sizes = list(height_width(imgsz))
    if fixed_shape is not None:
        if tuple(sizes) != tuple(fixed_shape):
            LOGGER.info("The model has a fixed input size %dx%d; using it instead of --imgsz", *fixed_shape)
        return fixed_shape
    aligned = tuple(stride_aligned(s, stride) for s in sizes)
    if aligned != tuple(sizes):
        LOGGER.warning("WARNING: --imgsz %s must be a multiple of stride %d; using %s", sizes, stride, list(aligned))
    return aligned


def detect_image(
    backend: DetectMultiBackend,
    image: np.ndarray,
    shape: tuple[int, int],
    conf_thres: float = 0.25,
    iou_thres: float = 0.45,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    max_det: int = 1000,
    augment: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Detections in one BGR uint8 (H, W, 3) ``image``.

    Returns ``(detections, seconds, tensor_shape)``: detections are (n, 6) float32 ``x1, y1, x2, y2`` in pixels of
    ``image``, confidence, class index; ``seconds`` holds pre-process, inference and NMS times; ``tensor_shape`` is the
    letterboxed (1, 3, h, w) input. A static model gets exactly ``shape``; others the smallest stride multiple.
    """
    import torch

    from utils.nms import non_max_suppression

    clock = LapClock(backend.device)
    boxed, ratio, pad = letterbox(image, shape, auto=backend.fixed_shape is None, stride=backend.stride)
    array = np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1))  # BGR HWC -> RGB CHW
    tensor = torch.from_numpy(array).to(backend.device).float().div_(255).unsqueeze(0)
    preprocess = clock.lap()
    with torch.no_grad():
        if augment:
            from utils.inference.tta import augmented_forward

            model_input = tensor.half() if backend.fp16 else tensor
            prediction = augmented_forward(backend.model, model_input).float()
        else:
            prediction = backend(tensor)
    inference = clock.lap()
    det = non_max_suppression(prediction, conf_thres, iou_thres, list(classes) if classes else None, agnostic,
                              max_det=max_det)[0]  # fmt: skip
    det[:, :4] = scale_boxes(det[:, :4], tensor.shape[2:], image.shape[:2], ((ratio[0], ratio[1]), pad))
    nms = clock.lap()
    return det.cpu().numpy().astype(np.float32), np.array([preprocess, inference, nms]), tuple(tensor.shape)


def _check_classes(classes: Sequence[int] | None, names: list[str]) -> None:
    bad = [c for c in classes or [] if not 0 <= int(c) < len(names)]
    if bad:
        raise UserError(f"--classes {bad[0]}: the model has classes 0..{len(names) - 1} ({', '.join(names)})")


def _describe(counts: Counter, names: list[str]) -> str:
    """``2 circles, 1 rectangle`` (in class order) or ``(no detections)``."""
    if not counts:
        return "(no detections)"
    return ", ".join(f"{counts[name]} {name}{'s' * (counts[name] > 1)}" for name in names if counts[name])


def _show(window: str, image: np.ndarray) -> bool:
    """Show ``image`` (``--view-img``); returns False, with one warning, where OpenCV has no GUI (headless build)."""
    try:
        cv2.imshow(window, image)
        cv2.waitKey(1)
        return True
    except cv2.error:
        LOGGER.warning("WARNING: --view-img needs an OpenCV build with GUI support; not showing images")
        return False


def _log_summary(summary: PredictSummary, totals: np.ndarray, save_txt: bool, saves: bool) -> None:
    if summary.images == 0:
        LOGGER.warning("WARNING: no images were processed")
        return
    pre, inference, nms = (totals / summary.images * 1e3).tolist()
    summary.speed_ms = {"preprocess": pre, "inference": inference, "nms": nms}
    LOGGER.info("Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape %s", pre, inference, nms,
                summary.input_shape)  # fmt: skip
    if not saves:
        LOGGER.info("Nothing saved (--nosave without --save-txt, --save-crop, --save-csv or --visualize)")
        return
    labels = f", {summary.labels_saved} labels saved to {summary.save_dir / 'labels'}" if save_txt else ""
    LOGGER.info("Results saved to %s%s", summary.save_dir, labels)
