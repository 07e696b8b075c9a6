"""``NumpyDetector``: one image in, its detections out, for ONNX, OpenVINO, NCNN and TFLite files, with no torch
imported."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from utils.boxes import scale_boxes
from utils.deploy.nms import suppress
from utils.errors import UserError
from utils.inference.model_files import (
    CPU_ONLY_FORMATS,
    EXPORTED_FORMATS,
    MISSING_METADATA,
    format_of,
    metadata_names,
    metadata_stride,
    open_exported,
    precision_label,
)
from utils.letterbox import letterbox
from utils.timing import LapClock

LOGGER = logging.getLogger(__name__)
FORMATS = EXPORTED_FORMATS
RUNTIME_PACKAGES = {"onnx": "onnxruntime", "openvino": "openvino", "ncnn": "ncnn", "tflite": "ai-edge-litert"}


class NumpyDetector:
    """What :class:`~utils.inference.backends.DetectMultiBackend` and
    :func:`~utils.inference.predict.detect_image` do together, for the exported formats, in numpy.

    Attributes as the backend's: ``names``, ``stride``, ``fixed_shape``, ``fixed_batch``, ``format``,
    ``precision``, ``device`` (``"cpu"``) and ``model`` (None: no test-time augmentation or feature maps).
    """

    device = "cpu"
    model = None

    def __init__(self, weights: str | Path, half: bool = False) -> None:
        path = Path(weights)
        self.format = format_of(path)
        if self.format not in FORMATS:
            raise ValueError(f"{path}: the torch-free path runs {', '.join(FORMATS)} files, not {self.format}")
        if not path.exists():
            raise UserError(f"weights not found: {path}")
        if half and self.format == "onnx":
            LOGGER.info("--half needs a CUDA device for onnx; running in float32 on cpu")
        self.exported = open_exported(path, self.format, half=half)
        self.fixed_shape, self.fixed_batch = self.exported.fixed_shape, self.exported.fixed_batch
        metadata = self.exported.metadata
        self.precision = precision_label(self.exported.precision, metadata)
        self.stride = metadata_stride(metadata.get("stride"), path)
        self.names = metadata_names(metadata.get("names"), path)
        if not self.names:
            LOGGER.warning(MISSING_METADATA, path, self.stride)
            self.names = [f"class{i}" for i in range(self._num_classes())]
        fixed = f", fixed input {self.fixed_shape[0]}x{self.fixed_shape[1]}" if self.fixed_shape else ""
        LOGGER.info("Loaded %s (%s, %s on CPU, without torch): %d classes, stride %d%s", path, self.format,
                    self.precision, len(self.names), self.stride, fixed)  # fmt: skip

    def detect(
        self,
        image: np.ndarray,
        shape: tuple[int, int],
        conf_thres: float = 0.25,
        iou_thres: float = 0.45,
        classes: Sequence[int] | None = None,
        agnostic: bool = False,
        max_det: int = 1000,
        augment: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """As :func:`~utils.inference.predict.detect_image`: (n, 6) detections in ``image`` pixels, the
        pre-process, inference and NMS seconds, and the letterboxed input shape."""
        clock = LapClock("cpu")
        boxed, ratio, pad = letterbox(image, shape, auto=self.fixed_shape is None, stride=self.stride)
        array = np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255
        preprocess = clock.lap()
        prediction = self.predict(array)[0]
        inference = clock.lap()
        det = suppress(prediction, conf_thres, iou_thres, classes, agnostic, max_det)
        det[:, :4] = scale_boxes(det[:, :4], array.shape[2:], image.shape[:2], ((ratio[0], ratio[1]), pad))
        return det, np.array([preprocess, inference, clock.lap()]), tuple(array.shape)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 RGB 0..1 -> (B, N, 5 + nc) decoded predictions. A static graph of batch F is fed
        chunks of F images, the last one zero-padded (as the torch path's backend does)."""
        batch = self.fixed_batch
        if not batch or len(images) == batch:
            return self.exported.run(images)
        outputs = []
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            padding = np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
            outputs.append(self.exported.run(np.concatenate((chunk, padding)) if len(padding) else chunk)[: len(chunk)])
        return np.concatenate(outputs)

    def banner(self) -> str:
        """The run's first line: code, Python, the runtime package and its version, the CPU."""
        from importlib.metadata import PackageNotFoundError, version

        from utils.environment import runtime_banner

        package = RUNTIME_PACKAGES[self.format]
        try:
            return runtime_banner(package, version(package))
        except PackageNotFoundError:
            return runtime_banner(package, "unknown")

    def _num_classes(self) -> int:
        size = self.fixed_shape or (self.stride * 2, self.stride * 2)
        return int(self.predict(np.zeros((1, 3, *size), np.float32)).shape[-1]) - 5


def runs_without_torch(weights: str | Path, device: str) -> bool:
    """Whether detect.py takes the torch-free path: an OpenVINO, NCNN or TFLite model (CPU runtimes here), or an
    ONNX file on the CPU (``--device cpu``, or no ``--device`` and no CUDA provider in onnxruntime)."""
    fmt = format_of(Path(weights))
    if fmt in CPU_ONLY_FORMATS and fmt in FORMATS:
        return True
    if fmt != "onnx" or device not in ("", "cpu"):
        return False
    if device == "cpu":
        return True
    import onnxruntime

    return "CUDAExecutionProvider" not in onnxruntime.get_available_providers()
