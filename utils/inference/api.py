"""The Python API, in YOLOv5's style: ``load("best.pt")`` returns a model that takes images as users hold them.

    from utils.inference.api import load

    model = load("runs/train/exp/weights/best.pt")   # or .torchscript, .onnx, an OpenVINO folder
    results = model(["a.jpg", cv2.imread("b.jpg")])  # -> Detections (utils/inference/results.py)
    results.print(); boxes = results.xyxy[0]         # (n, 6): x1, y1, x2, y2, conf, class

:class:`AutoShape` does per image what ``detect.py`` does (:func:`~utils.inference.predict.detect_image`: letterbox,
forward, NMS, boxes back to the original image), so the two give the same boxes. ``hubconf.py`` (``torch.hub.load``)
is a thin layer over :func:`load` and :func:`create`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from utils.device import select_device
from utils.errors import UserError
from utils.image_io import ImageReadError, load_image
from utils.inference.backends import DetectMultiBackend
from utils.inference.predict import detect_image, input_shape
from utils.inference.results import Detections
from utils.inference.sources import download_image

LOGGER = logging.getLogger(__name__)

ImageInput = str | Path | np.ndarray | Image.Image
OFFICIAL_WEIGHTS = "https://github.com/ultralytics/yolov5/releases/download/v7.0/{name}.pt"
OFFICIAL_NAMES = ("yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x")  # configs YOLOv5 publishes weights for


class AutoShape(nn.Module):
    """A detector that takes paths, URLs, numpy BGR arrays, PIL images or a list of them, and returns
    :class:`~utils.inference.results.Detections`.

    NMS settings are attributes, named and defaulted as YOLOv5's: ``conf`` (0.25), ``iou`` (0.45), ``classes``
    (None: all, else a list of class indices), ``agnostic`` (False), ``max_det`` (1000). ``backend`` is the
    :class:`~utils.inference.backends.DetectMultiBackend` that runs the model; its device is fixed when it is loaded.
    """

    def __init__(self, backend: DetectMultiBackend) -> None:
        super().__init__()
        self.backend = backend
        self.conf, self.iou, self.classes, self.agnostic, self.max_det = 0.25, 0.45, None, False, 1000

    @property
    def names(self) -> list[str]:
        return self.backend.names

    @property
    def stride(self) -> int:
        return self.backend.stride

    @torch.no_grad()
    def forward(
        self,
        ims: ImageInput | Sequence[ImageInput] | torch.Tensor,
        size: int | Sequence[int] = 640,
        augment: bool = False,
    ) -> Detections | torch.Tensor:
        """Detect objects in ``ims`` letterboxed to ``size`` (long side, or ``(H, W)``; rounded up to the stride).

        A ``(B, 3, H, W)`` RGB 0..1 tensor goes straight to the model, as in YOLOv5, and gives its raw
        ``(B, N, 5 + nc)`` output. ``augment``: test-time augmentation (``.pt`` weights only).
        """
        if isinstance(ims, torch.Tensor):
            return self.backend(ims.to(self.backend.device))
        if augment and self.backend.model is None:
            raise UserError(f"augment=True works with .pt weights only, not {self.backend.format}")
        batch = list(ims) if isinstance(ims, (list, tuple)) else [ims]
        if not batch:
            raise UserError("no images given (an empty list)")
        images, files = zip(*(_as_bgr(image, index) for index, image in enumerate(batch)))
        shape = input_shape(size, self.backend.stride, self.backend.fixed_shape)
        nms = (self.conf, self.iou, self.classes, self.agnostic, self.max_det, augment)
        pred, totals, tensor_shape = [], np.zeros(3), ()
        for image in images:
            detections, seconds, tensor_shape = detect_image(self.backend, image, shape, *nms)
            pred.append(torch.from_numpy(detections))
            totals += seconds
        rgb = [np.ascontiguousarray(image[:, :, ::-1]) for image in images]
        times = (totals / len(images) * 1e3).tolist()
        return Detections(rgb, pred, list(files), self.names, times, tensor_shape)


def load(
    path: str | Path,
    device: str | int | torch.device | None = None,
    autoshape: bool = True,
    fp16: bool = False,
    verbose: bool = True,
) -> AutoShape | DetectMultiBackend:
    """Load weights in any format ``detect.py`` runs (``.pt``, ``.torchscript``, ``.onnx``, OpenVINO).

    ``device``: as ``--device`` (None or ``""``: the first GPU if any, else the CPU). ``autoshape=False`` returns
    the bare :class:`~utils.inference.backends.DetectMultiBackend` (tensor in, decoded tensor out).
    ``verbose=False`` silences the loader's INFO lines.
    """
    with _quiet(not verbose):
        backend = DetectMultiBackend(path, _device(device), fp16=fp16)
    return AutoShape(backend) if autoshape else backend


def create(
    name: str,
    pretrained: bool = True,
    channels: int = 3,
    classes: int = 80,
    autoshape: bool = True,
    device: str | int | torch.device | None = None,
    verbose: bool = True,
) -> AutoShape | DetectMultiBackend:
    """The model of ``configs/models/<name>.yaml`` with ``classes`` classes, untrained (``pretrained=False``).

    There are no hub weights to download here, so ``pretrained=True`` (YOLOv5's default, kept so that a call
    expecting trained weights fails instead of silently detecting nothing) raises a one-line :class:`UserError`
    saying where to get weights and how to load them with :func:`load` / ``custom(path=...)``.
    """
    if pretrained:
        raise UserError(_no_weights_message(name))
    if autoshape and channels != 3:
        raise UserError(f"{name}: channels={channels} needs autoshape=False (images are read as 3-channel)")
    from models.yolo import CONFIG_DIR, DetectionModel

    with _quiet(not verbose):
        model = DetectionModel(CONFIG_DIR / f"{name}.yaml", ch=channels, nc=classes, verbose=verbose)
        backend = DetectMultiBackend(model, _device(device))
    return AutoShape(backend) if autoshape else backend


def _no_weights_message(name: str) -> str:
    if name in OFFICIAL_NAMES:
        where = f"download {OFFICIAL_WEIGHTS.format(name=name)} on a machine with internet"
        file = f"{name}.pt"
    else:
        where, file = f"train one (python train.py --cfg configs/models/{name}.yaml ...)", "best.pt"
    return (f"{name}: pretrained=True needs hub weights, which are not available offline; {where} and load it with "
            f"custom(path='{file}'), or pass pretrained=False for an untrained model")  # fmt: skip


def _device(device: str | int | torch.device | None) -> torch.device:
    return select_device("" if device is None else str(device))


@contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    """Raise the model-loading loggers to WARNING while loading when ``quiet``."""
    loggers = [logging.getLogger(name) for name in ("utils.inference.backends", "models")] if quiet else []
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _as_bgr(image: ImageInput, index: int) -> tuple[np.ndarray, str]:
    """(BGR uint8 (H, W, 3) array, file name) for one input; file names as YOLOv5's (``image0.jpg`` for arrays)."""
    default = f"image{index}.jpg"
    if isinstance(image, (str, Path)):
        text = str(image)
        if urlparse(text).scheme in ("http", "https"):
            return download_image(text), Path(urlparse(text).path).name or default
        if not Path(text).is_file():
            raise UserError(f"{text}: image not found")
        try:
            return load_image(text), Path(text).with_suffix(".jpg").name
        except ImageReadError as error:
            raise UserError(str(error)) from None
    if isinstance(image, Image.Image):
        name = Path(getattr(image, "filename", "") or default).with_suffix(".jpg").name
        rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        return np.ascontiguousarray(rgb[:, :, ::-1]), name
    if isinstance(image, np.ndarray):
        return _array_as_bgr(image, index), default
    raise UserError(f"image {index}: unsupported input {type(image).__name__}; expected a path, URL, numpy array, "
                    "PIL image or a list of them")  # fmt: skip


def _array_as_bgr(array: np.ndarray, index: int) -> np.ndarray:
    """An OpenCV-style array (BGR, gray or BGRA; HWC, or CHW as YOLOv5 also takes) as BGR (H, W, 3)."""
    if array.dtype != np.uint8:
        raise UserError(f"image {index}: expected a uint8 array (BGR as cv2.imread gives), got {array.dtype}")
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if array.ndim != 3 or array.shape[2] != 3:
        raise UserError(f"image {index}: expected an (H, W, 3) BGR array, got shape {tuple(array.shape)}")
    return np.ascontiguousarray(array)
