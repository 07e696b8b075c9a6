"""``ExportOptions``: every ``export.py`` flag but ``--weights``, built once and passed whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from utils.bounds import check_image_size, check_number
from utils.errors import UserError
from utils.exporters.calibration import DEFAULT_CALIBRATION_IMAGES
from utils.exporters.onnx_file import DEFAULT_OPSET, MIN_OPSET

INT8_FORMATS = ("onnx", "openvino", "tflite")


@dataclass(frozen=True)
class ExportOptions:
    """What to write and how; names and defaults are YOLOv5's ``export.py`` flags.

    - ``include``: formats from :data:`~utils.exporters.pipeline.FORMATS`, written in that order whatever the order
      here.
    - ``imgsz``: ``H`` or ``(H, W)``, multiples of the model's stride; the traced input is ``(batch_size, 3, H, W)``.
    - ``dynamic``: batch, height and width free (ONNX, OpenVINO; TorchScript is marked dynamic; TensorRT batch only).
    - ``simplify``, ``opset``: ONNX graph simplification with onnxslim, and the opset version.
    - ``half``: float16 (TorchScript, ONNX and TensorRT need CUDA; OpenVINO, NCNN and TFLite store float16 weights
      on any device, TFLite as ``best_float16.tflite``; CoreML computes in float16; not ExecuTorch).
    - ``device``: where the model is traced; ``workspace``: TensorRT's builder memory in GB.
    - ``check_image``: the photo the self-check letterboxes (None: a synthetic scene).
    - ``int8``: ONNX, OpenVINO and TFLite files quantized to 8-bit integers (``best_int8.onnx``,
      ``best_int8_openvino_model/``, ``best_int8.tflite``), calibrated on ``int8_images`` train images of the dataset
      YAML ``data``; the Detect head stays float in each.
    """

    include: Sequence[str] = ("torchscript",)
    imgsz: int | Sequence[int] = 640
    batch_size: int = 1
    dynamic: bool = False
    simplify: bool = False
    opset: int = DEFAULT_OPSET
    half: bool = False
    device: str = "cpu"
    workspace: int = 4
    check_image: str | Path | None = None
    int8: bool = False
    data: str | Path | None = None
    int8_images: int = DEFAULT_CALIBRATION_IMAGES

    def __post_init__(self) -> None:
        check_image_size("--imgsz", self.imgsz)
        check_number("--batch-size", self.batch_size, 1, integer=True)
        check_number("--opset", self.opset, MIN_OPSET, integer=True)
        check_number("--workspace", self.workspace, 1, integer=True)
        check_number("--int8-images", self.int8_images, 1, integer=True)
        if self.int8 and self.data is None:
            raise UserError("--int8 needs calibration images: add --data DATA.yaml (its train split is used)")
        if self.int8 and self.half:
            raise UserError("--int8 and --half: choose one precision")
        if self.half and "executorch" in [str(f).lower() for f in self.include]:
            raise UserError("--half: the executorch export is float32 (XNNPACK); export it without --half")
        others = [f for f in self.include if str(f).lower() not in INT8_FORMATS]
        if self.int8 and others:
            raise UserError(f"--int8 quantizes onnx, openvino and tflite only, not {' '.join(map(str, others))}")
