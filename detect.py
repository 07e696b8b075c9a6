"""Detect objects in images, folders, videos, webcams and streams with a checkpoint or any exported model.

    python detect.py --weights best.pt --source data/images           # folder, glob, .txt list or one image
    python detect.py --weights best.onnx --source video.mp4 --save-txt
    python detect.py --weights best_openvino_model/ --source 0         # webcam 0
    python detect.py --weights best.torchscript --source rtsp://host/stream
    python detect.py --weights best_ncnn_model/ --source data/images   # or best_float32.tflite

Results go to ``runs/detect/exp``, ``exp2``, ...: annotated images and videos, ``labels/*.txt`` (``--save-txt``) and
``crops/<class>/`` (``--save-crop``), ``predictions.csv`` (``--save-csv``) and ``<image>/stage*_features.png``
(``--visualize``). All the work is done by :func:`utils.inference.predict.predict`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from utils.absent_flags import add_absent_flags
from utils.errors import run_reporting_user_errors
from utils.inference.openvino_runtime import HALF_HELP


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights", default="yolov5s.pt", help="model: .pt, .torchscript, .onnx, .tflite, OpenVINO/NCNN folder"
    )
    parser.add_argument("--source", default="data/images", help="file, folder, glob, .txt, video, webcam index, URL")
    parser.add_argument("--imgsz", "--img", "--img-size", nargs="+", type=int, default=[640], help="inference h w")
    parser.add_argument("--conf-thres", type=float, default=0.25, help="confidence threshold")
    parser.add_argument("--iou-thres", type=float, default=0.45, help="NMS IoU threshold")
    parser.add_argument("--max-det", type=int, default=1000, help="maximum detections per image")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--view-img", action="store_true", help="show results")
    parser.add_argument("--save-txt", action="store_true", help="save results to labels/*.txt (YOLO format)")
    parser.add_argument("--save-conf", action="store_true", help="save confidences in --save-txt labels")
    parser.add_argument("--save-crop", action="store_true", help="save cropped prediction boxes")
    parser.add_argument("--nosave", action="store_true", help="do not save annotated images/videos")
    parser.add_argument("--classes", nargs="+", type=int, help="filter by class: --classes 0, or --classes 0 2 3")
    parser.add_argument("--agnostic-nms", action="store_true", help="class-agnostic NMS")
    parser.add_argument("--augment", action="store_true", help="test-time augmentation (.pt weights only)")
    parser.add_argument("--project", default="runs/detect", help="save results to project/name")
    parser.add_argument("--name", default="exp", help="save results to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--line-thickness", type=int, default=3, help="bounding box thickness (pixels)")
    parser.add_argument("--hide-labels", action="store_true", help="hide labels")
    parser.add_argument("--hide-conf", action="store_true", help="hide confidences")
    parser.add_argument("--half", action="store_true", help=HALF_HELP)
    parser.add_argument("--vid-stride", type=int, default=1, help="video frame-rate stride")
    parser.add_argument("--visualize", action="store_true", help="save feature maps per stage (.pt weights only)")
    parser.add_argument("--save-csv", action="store_true", help="save detections to predictions.csv")
    add_absent_flags(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from utils.inference.options import PredictOptions
    from utils.inference.predict import predict  # after logging is set up; keeps `--help` fast

    return run_reporting_user_errors(lambda: predict(PredictOptions(**vars(args))))


if __name__ == "__main__":
    sys.exit(main())
