"""Export a checkpoint to TorchScript, ONNX, OpenVINO, TensorRT, NCNN, TFLite, CoreML or ExecuTorch, each file checked.

    python export.py --weights best.pt --include torchscript onnx openvino --imgsz 640
    python export.py --weights best.pt --include onnx --dynamic --simplify --opset 17
    python export.py --weights best.pt --include openvino --half          # FP16 IR weights, any device
    python export.py --weights best.pt --include engine --device 0 --half  # TensorRT, NVIDIA GPU + tensorrt
    python export.py --weights best.pt --include onnx openvino --int8 --data data.yaml  # INT8, calibrated
    python export.py --weights best.pt --include ncnn tflite --imgsz 320   # phones (requirements-export.txt)
    python export.py --weights best.pt --include coreml executorch         # iOS (not run here), ExecuTorch

Files go beside the weights, named as YOLOv5 names them: ``best.torchscript``, ``best.onnx``,
``best_openvino_model/best.xml`` (+ ``.bin``, ``metadata.yaml``), ``best.engine``, ``best_ncnn_model/``
(``model.ncnn.param``, ``.bin``, ``metadata.yaml``), ``best_float32.tflite``, ``best.mlpackage`` and
``best_executorch_model/best.pte``. ``detect.py --weights`` and ``val.py --weights`` read every one but ``.engine`` and
``.mlpackage`` (CoreML runs on Apple devices only; here its spec is checked). :func:`utils.exporters.export` does
the work.
"""

from __future__ import annotations

import argparse
import logging
import sys

from utils.errors import run_reporting_user_errors

# utils.exporters.FORMATS, kept here so --help stays fast
FORMATS = ("torchscript", "onnx", "openvino", "engine", "ncnn", "tflite", "coreml", "executorch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="yolov5s.pt", help="checkpoint .pt written by train.py")
    parser.add_argument("--include", nargs="+", default=["torchscript"], choices=FORMATS, help="formats to write")
    parser.add_argument("--imgsz", "--img", "--img-size", nargs="+", type=int, default=[640], help="image h w")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size of the exported input")
    parser.add_argument("--dynamic", action="store_true", help="ONNX/OpenVINO: dynamic batch, height and width")
    parser.add_argument("--simplify", action="store_true", help="ONNX: simplify the graph with onnxslim")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument(
        "--half", action="store_true", help="FP16: OpenVINO/NCNN/TFLite weights; TorchScript/ONNX/TensorRT on GPU"
    )
    parser.add_argument("--device", default="cpu", help="cuda device, i.e. 0 or cpu")
    parser.add_argument("--workspace", type=int, default=4, help="TensorRT workspace size (GB)")
    parser.add_argument("--int8", action="store_true",
                        help="INT8 onnx/openvino/tflite (best_int8.onnx, best_int8_openvino_model/, best_int8.tflite), "
                             "the head in float: for VNNI/AMX CPUs and phones; "
                             "needs --data for calibration")  # fmt: skip
    parser.add_argument("--data", default=None, help="dataset YAML whose train images calibrate --int8")
    parser.add_argument("--int8-images", type=int, default=300, help="how many train images calibrate --int8")
    parser.add_argument("--check-image", default=None, help="image for the self-check (default: a synthetic scene)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_reporting_user_errors(lambda: export_and_report(args))


def export_and_report(args: argparse.Namespace) -> int:
    """Export, print what was written; 1 when a float32 file does not match PyTorch."""
    from utils.exporters import ExportOptions, export  # after logging is set up; keeps `--help` fast
    from utils.exporters.check import TOLERANCE_TEXT

    options = ExportOptions(**{key: value for key, value in vars(args).items() if key != "weights"})
    results = export(args.weights, options)
    print("\nExport complete:\n" + "\n".join(result.line() for result in results))
    failed = [result for result in results if not result.passed]
    if failed:
        formats = ", ".join(result.format for result in failed)
        print(f"error: {formats} differ from PyTorch by more than {TOLERANCE_TEXT}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
