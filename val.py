"""Evaluate a checkpoint on a dataset split: YOLOv5's table (P, R, mAP50, mAP50-95), speed, plots, COCO JSON.

python val.py --weights runs/train/exp/weights/best.pt --data data/bccd.yaml --imgsz 640
python val.py --weights best.pt --data data/shapes.yaml --task speed    # batch 1 timing
python val.py --weights best.onnx --data data/shapes.yaml               # or .torchscript, .tflite, *_model/
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from utils.absent_flags import add_absent_flags
from utils.data.dataset_yaml import check_dataset
from utils.data.options import LoaderOptions
from utils.deploy.detector import runs_without_torch
from utils.errors import UserError, run_reporting_user_errors
from utils.evaluation.coco_json import official_annotations
from utils.evaluation.collect import EvalResult, shows_per_class_rows
from utils.evaluation.options import EvalOptions
from utils.inference.model_files import CPU_HALF_FORMATS
from utils.inference.openvino_runtime import HALF_HELP
from utils.run_dir import increment_path

if TYPE_CHECKING:
    import torch

    from utils.deploy.detector import NumpyDetector
    from utils.inference.backends import DetectMultiBackend

LOGGER = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Evaluate a checkpoint on a dataset split.", formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights", required=True, help="checkpoint .pt, or .torchscript/.onnx/.tflite/_openvino_model/_ncnn_model"
    )
    parser.add_argument("--data", default="data/shapes.yaml", help="dataset YAML")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="inference size (pixels)")
    parser.add_argument("--conf-thres", type=float, default=0.001, help="confidence threshold")
    parser.add_argument("--iou-thres", type=float, default=0.6, help="NMS IoU threshold")
    parser.add_argument("--max-det", type=int, default=300, help="maximum detections per image")
    parser.add_argument("--task", default="val", choices=("train", "val", "test", "speed"), help="split, or speed")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or cpu")
    parser.add_argument("--workers", type=int, default=8, help="dataloader workers")
    parser.add_argument("--single-cls", action="store_true", help="treat all classes as one")
    parser.add_argument("--augment", action="store_true", help="test-time augmentation (flip and scales)")
    parser.add_argument("--verbose", action="store_true", help="one row per class (the default below 50 classes)")
    parser.add_argument("--save-txt", action="store_true", help="save predictions to labels/*.txt")
    parser.add_argument("--save-conf", action="store_true", help="add confidences to --save-txt labels")
    parser.add_argument("--save-json", action="store_true", help="save COCO JSON and score it with pycocotools")
    parser.add_argument("--project", default="runs/val", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="reuse an existing project/name")
    parser.add_argument("--half", action="store_true", help=HALF_HELP)
    add_absent_flags(parser)
    return parser.parse_args(argv)


def check_names(trained: list[str], data: dict, weights: str, single_cls: bool) -> list[str]:
    """The class names to report; raises when the dataset's classes are not the ones the checkpoint learnt."""
    if single_cls and len(trained) == 1:
        return trained
    expected = data["names"]
    if len(trained) != len(expected):
        raise UserError(
            f"{data['yaml_file']}: nc={len(expected)} but {weights} was trained with nc={len(trained)} "
            f"(names {trained[:10]}{'...' if len(trained) > 10 else ''}); use the dataset YAML it was trained on"
        )
    for index, (ours, theirs) in enumerate(zip(expected, trained)):
        if ours != theirs:
            raise UserError(
                f"{data['yaml_file']}: class {index} is named {ours!r} but {weights} was trained with {theirs!r} "
                "(the names or their order differ)"
            )
    return expected


def load_model(weights: str, device: torch.device, half: bool) -> tuple[torch.nn.Module, DetectMultiBackend]:
    """The detector for :func:`~utils.evaluation.evaluate.evaluate` and the loader that read it. One loader for
    every format: a checkpoint gives its fused ``DetectionModel`` (``--half`` then runs through autocast); an
    exported file is wrapped so that ``evaluate`` treats it like the model it came from."""
    from utils.inference.backends import BackendDetector, DetectMultiBackend

    checkpoint_on_cuda = str(weights).endswith(".pt") and device.type == "cuda"  # evaluate() autocasts it itself
    backend = DetectMultiBackend(weights, device, fp16=half and not checkpoint_on_cuda)
    plain_checkpoint = backend.format == "pt" and not backend.cpu_bf16
    return (backend.model if plain_checkpoint else BackendDetector(backend)), backend


class Evaluator(NamedTuple):
    """The opened model and how to score it: ``backend`` (names, stride, fixed shape and batch, format),
    ``banner`` (the run's first line), ``cuda`` (whether it runs on a GPU) and
    ``score(split, loader_options, names, eval_options) -> EvalResult``."""

    backend: DetectMultiBackend | NumpyDetector
    banner: Callable[[], str]
    cuda: bool
    score: Callable[..., EvalResult]


def open_evaluator(args: argparse.Namespace) -> Evaluator:
    """An ONNX file on the CPU, or an OpenVINO, NCNN or TFLite model, is scored without importing torch
    (:func:`utils.deploy.evaluate.evaluate_exported`); a checkpoint, a TorchScript file or anything on a GPU by
    :func:`utils.evaluation.evaluate.evaluate`."""
    if runs_without_torch(args.weights, args.device):
        from utils.data.samples import YoloSamples
        from utils.deploy.detector import NumpyDetector
        from utils.deploy.evaluate import evaluate_exported

        if args.augment:
            raise UserError(f"--augment needs a .pt checkpoint, not {args.weights}")
        detector = NumpyDetector(args.weights, half=args.half)

        def score_exported(split, loader_options: LoaderOptions, names: list[str], options: EvalOptions):
            samples = YoloSamples(split, loader_options)
            return evaluate_exported(detector, samples, loader_options.batch_size, names, options)

        return Evaluator(detector, detector.banner, False, score_exported)
    from models.yolo import DetectionModel
    from utils.data.dataloader import create_dataloader
    from utils.device import select_device
    from utils.environment import banner
    from utils.evaluation.evaluate import evaluate

    device = select_device(args.device)
    model, backend = load_model(args.weights, device, args.half)
    if args.augment and not isinstance(model, DetectionModel):
        raise UserError(f"--augment needs a .pt checkpoint, not {args.weights}")

    def score_with_torch(split, loader_options: LoaderOptions, names: list[str], options: EvalOptions):
        loader, _ = create_dataloader(split, loader_options)
        return evaluate(model, loader, names, options, device=device)

    return Evaluator(backend, lambda: banner(device), device.type == "cuda", score_with_torch)


def input_plan(backend: DetectMultiBackend | NumpyDetector, args: argparse.Namespace) -> tuple[int, int, bool]:
    """(image size, batch size, rect batches): a static export is fed its own square size and batch."""
    batch_size = 1 if args.task == "speed" else args.batch_size
    if backend.fixed_shape is None:
        return args.imgsz, backend.fixed_batch or batch_size, True
    height, width = backend.fixed_shape
    if height != width:
        raise UserError(f"{args.weights}: fixed input {height}x{width} is not square; export it with --dynamic")
    if height != args.imgsz:
        LOGGER.info("%s has a fixed input size %dx%d; using it instead of --imgsz %d", args.weights, height, width,
                    args.imgsz)  # fmt: skip
    return height, backend.fixed_batch or 1, False


def eval_options(args: argparse.Namespace, save_dir: Path | None, cuda: bool) -> EvalOptions:
    """The flags as :class:`EvalOptions`; ``--task speed`` uses detect.py's thresholds and writes nothing."""
    speed = args.task == "speed"
    return EvalOptions(
        conf_thres=0.25 if speed else args.conf_thres,
        iou_thres=0.45 if speed else args.iou_thres,
        max_det=args.max_det,
        single_cls=args.single_cls,
        augment=args.augment,
        half=args.half and cuda,
        save_dir=save_dir,
        plots=not speed,
        save_txt=args.save_txt and not speed,
        save_conf=args.save_conf,
        save_json=args.save_json and not speed,
    )


def run(args: argparse.Namespace) -> tuple[EvalResult, Path | None]:
    """Load, check and evaluate; returns the result and the run folder (None for ``--task speed``)."""
    eval_options(args, None, cuda=False)  # flags checked before anything loads
    evaluator = open_evaluator(args)
    backend = evaluator.backend
    options = eval_options(args, None, evaluator.cuda)
    cpu_bf16 = getattr(backend, "cpu_bf16", False)  # a checkpoint or TorchScript file autocast to bfloat16
    if args.half and not evaluator.cuda and backend.format not in CPU_HALF_FORMATS and not cpu_bf16:
        raise UserError(f"--half needs a CUDA device for {backend.format} weights, or a CPU with AVX512-BF16/AMX "
                        f"(OpenVINO takes it on the CPU as bf16 where it can, NCNN as float16), but the device is "
                        f"{args.device or 'cpu'}; drop --half")  # fmt: skip
    data = check_dataset(args.data)
    names = check_names(backend.names, data, args.weights, args.single_cls)
    speed = args.task == "speed"
    split = "val" if speed else args.task
    if not data[split]:
        raise UserError(f"{data['yaml_file']}: no '{split}' split to evaluate (add a '{split}:' key)")
    imgsz, batch_size, rect = input_plan(backend, args)
    LOGGER.info("%s", evaluator.banner())  # once the inputs are known to be good: a bad one gets its line alone
    loader_options = LoaderOptions(
        imgsz, batch_size, backend.stride, rect=rect, pad=0.5 if rect else 0.0, workers=args.workers,
        single_cls=args.single_cls, prefix=f"{split}: ", num_classes=data["nc"],
    )  # fmt: skip
    save_dir = None if speed else increment_path(Path(args.project) / args.name, args.exist_ok, mkdir=True)
    annotations = official_annotations(data["path"], names) if options.save_json and split == "val" else None
    options = replace(options, save_dir=save_dir, coco_annotations=annotations)
    return evaluator.score(data[split], loader_options, names, options), save_dir


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_reporting_user_errors(lambda: print_report(*run(args), args))


def print_report(result, save_dir: Path | None, args: argparse.Namespace) -> None:
    """The metrics table, the speed line, pycocotools' figures and where results went."""
    print(result.table(per_class=args.verbose or shows_per_class_rows(len(result.names))))
    print(result.speed_line())
    if result.coco_map is not None:
        truth = result.coco_truth or "the labels (ground_truth.json)"
        print(
            f"pycocotools COCOeval against {truth}: mAP50-95 {result.coco_map:.4f}, mAP50 {result.coco_map50:.4f} "
            f"(ours, on the labels: {result.map:.4f}, {result.map50:.4f})"
        )
    if save_dir is not None:
        labels = f", {len(list((save_dir / 'labels').glob('*.txt')))} label files in labels/" if args.save_txt else ""
        print(f"Results saved to {save_dir}{labels}")


if __name__ == "__main__":
    sys.exit(main())
