"""Model export: TorchScript, ONNX, OpenVINO IR and TensorRT, each written to the metadata contract that
:class:`utils.inference.backends.DetectMultiBackend` reads, and each checked against PyTorch after it is written.

- :func:`export` (``export.py``): a checkpoint in, files beside it out (``best.torchscript``, ``best.onnx``,
  ``best_openvino_model/best.xml``, ``best.engine``).
- :func:`export_model`: the same for a ``DetectionModel`` already in memory (the benchmarks use it).
- one module per format (:mod:`.torchscript`, :mod:`.onnx_file`, :mod:`.openvino_ir`, :mod:`.tensorrt_engine`)
  and :mod:`.check` (the letterboxed check image and :func:`compare_outputs`).

Runtimes (onnx, onnxslim, openvino, tensorrt) are imported inside the functions that need them.
"""

from utils.exporters.check import Comparison, check_images, compare_outputs
from utils.exporters.options import ExportOptions
from utils.exporters.pipeline import FORMATS, ExportResult, export, export_model

__all__ = [
    "Comparison",
    "ExportOptions",
    "FORMATS",
    "ExportResult",
    "check_images",
    "compare_outputs",
    "export",
    "export_model",
]
