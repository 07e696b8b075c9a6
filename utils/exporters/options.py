"""``ExportOptions``: every ``export.py`` flag but ``--weights``, built once and passed whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from utils.bounds import check_image_size, check_number
from utils.exporters.onnx_file import DEFAULT_OPSET, MIN_OPSET


@dataclass(frozen=True)
class ExportOptions:
    """What to write and how; names and defaults are YOLOv5's ``export.py`` flags.

    - ``include``: formats from :data:`~utils.exporters.pipeline.FORMATS`, written in that order whatever the order
      here.
    - ``imgsz``: ``H`` or ``(H, W)``, multiples of the model's stride; the traced input is ``(batch_size, 3, H, W)``.
    - ``dynamic``: batch, height and width free (ONNX, OpenVINO; TorchScript is marked dynamic; TensorRT batch only).
    - ``simplify``, ``opset``: ONNX graph simplification with onnxslim, and the opset version.
    - ``half``: float16 (TorchScript, ONNX and TensorRT need CUDA; OpenVINO stores float16 weights on any device).
    - ``device``: where the model is traced; ``workspace``: TensorRT's builder memory in GB.
    - ``check_image``: the photo the self-check letterboxes (None: a synthetic scene).
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

    def __post_init__(self) -> None:
        check_image_size("--imgsz", self.imgsz)
        check_number("--batch-size", self.batch_size, 1, integer=True)
        check_number("--opset", self.opset, MIN_OPSET, integer=True)
        check_number("--workspace", self.workspace, 1, integer=True)
