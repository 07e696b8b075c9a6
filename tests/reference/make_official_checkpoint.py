"""Write a checkpoint the way ultralytics/yolov5 v7.0 does, and that package's own detections on some images.

Runs inside the ``yolov5`` package's venv (see ``install_yolov5.sh``), never ours:

    .venv-yolov5/bin/python tests/reference/make_official_checkpoint.py OUT_DIR --calibrate A.jpg B.jpg \
        --images C.jpg D.jpg --imgsz 320 --conf-thres 0.25 --iou-thres 0.45

1. Builds ``yolov5s.yaml`` at nc=80 with COCO's class names (a dict, as v7.0 stores them) and fills its BatchNorm
   statistics from the ``--calibrate`` images: an untrained model's scores are all alike, which makes NMS ties.
2. Saves ``OUT_DIR/yolov5s.pt`` as their ``strip_optimizer`` leaves a release file: ``{'model': fp16 model,
   'ema': None, 'epoch': -1, ...}``. The package's classes live under ``yolov5.models``; the file names them
   ``models.yolo`` / ``models.common`` as the ultralytics repository writes them. ``yolov5s_package_paths.pt``
   is the same checkpoint with the package's own ``yolov5.models...`` names, as its train.py writes best.pt.
3. Writes ``OUT_DIR/detections.json``: for each ``--images`` file, the boxes of their detect.py pipeline (letterbox
   with the long side at ``--imgsz`` padded to a stride multiple, the fused model, their NMS, boxes scaled back and
   rounded) as ``[x1, y1, x2, y2, conf, class]`` rows.

The package cannot ``torch.load`` its own checkpoints under torch >= 2.6, so step 3 uses the in-memory model.
"""

from __future__ import annotations

import argparse
import json
from copy import deepcopy
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from official_paths import official_module_paths


def calibrate_batchnorm(model: torch.nn.Module, images: list[np.ndarray]) -> None:
    """Replace every BatchNorm's running statistics by their average over ``images`` (RGB 0..1 tensors)."""
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for image in images:
            model(image)
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.momentum = 0.03
    model.eval()


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Letterboxed BGR HWC uint8 -> (1, 3, H, W) RGB float 0..1, as their detect.py does."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[::-1])).float().div(255).unsqueeze(0)


def release_checkpoint(model: torch.nn.Module) -> dict:
    """The dict their train.py saves after ``strip_optimizer``."""
    released = deepcopy(model).half()
    for layer in released.model:  # parse_model records each layer's class path, as their repository names it
        layer.type = layer.type.removeprefix("yolov5.")
    for parameter in released.parameters():
        parameter.requires_grad = False
    opt = {
        "weights": "",
        "cfg": "yolov5s.yaml",
        "data": "data/coco.yaml",
        "epochs": 300,
        "batch_size": 64,
        "imgsz": 640,
        "hyp": {"lr0": 0.01, "momentum": 0.937, "anchor_t": 4.0},
        "save_dir": "runs/train/exp",
    }
    return {"epoch": -1, "best_fitness": None, "model": released, "ema": None, "updates": None, "optimizer": None,
            "opt": opt, "git": {"remote": "https://github.com/ultralytics/yolov5", "branch": "master"},
            "date": datetime(2022, 11, 22).isoformat()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--calibrate", nargs="+", default=[])
    parser.add_argument("--images", nargs="+", default=[])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--conf-thres", type=float, default=0.25)
    parser.add_argument("--iou-thres", type=float, default=0.45)
    args = parser.parse_args()

    import yolov5
    from yolov5.models.yolo import Model
    from yolov5.utils.augmentations import letterbox
    from yolov5.utils.general import non_max_suppression, scale_boxes

    torch.set_num_threads(1)
    torch.manual_seed(0)
    package = Path(yolov5.__file__).parent
    model = Model(str(package / "models" / "yolov5s.yaml"), ch=3, nc=80)
    model.names = yaml.safe_load((package / "data" / "coco.yaml").read_text())["names"]  # {0: 'person', ...}
    stride = int(model.stride.max())
    boxed = lambda path: letterbox(cv2.imread(str(path)), args.imgsz, stride=stride, auto=True)[0]  # noqa: E731
    calibrate_batchnorm(model, [to_tensor(boxed(path)) for path in args.calibrate])

    args.out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = release_checkpoint(model)
    with official_module_paths("yolov5"):
        torch.save(checkpoint, args.out_dir / "yolov5s.pt")
    torch.save(checkpoint, args.out_dir / "yolov5s_package_paths.pt")  # as the PyPI package's train.py pickles it

    inference = deepcopy(checkpoint["model"]).float().fuse().eval()  # the saved fp16 weights, as detect.py runs
    detections = {}
    for path in args.images:
        original = cv2.imread(str(path))
        tensor = to_tensor(boxed(path))
        with torch.no_grad():
            prediction = inference(tensor)[0]
        det = non_max_suppression(prediction, args.conf_thres, args.iou_thres, max_det=1000)[0]
        det[:, :4] = scale_boxes(tensor.shape[2:], det[:, :4], original.shape).round()
        detections[Path(path).name] = det.tolist()
    (args.out_dir / "detections.json").write_text(json.dumps(detections))


if __name__ == "__main__":
    main()
