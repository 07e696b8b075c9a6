"""What the training augmentation hands the model, ours against the ``yolov5`` package's, on one dataset.

    python benchmarks/augment_stats.py --data /tmp/bccd/data.yaml --samples 400 --imgsz 320

Draws ``--samples`` augmented training images from each side's dataset class (ours: ``YoloDataset``; theirs:
``LoadImagesAndLabels``, run in the reference venv) with the same hyp file, and prints one table of what a
recipe difference would move: boxes per image, box sizes, how many boxes are cut small, grey padding, brightness
and saturation. Each side draws from its own random stream, so figures agree to sampling noise (a few percent at
400 samples), not to the digit. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HYP = ROOT / "configs" / "hyps" / "hyp.scratch-low.yaml"
PAD_VALUE = 114


def sample_statistics(dataset, samples: int, seed: int) -> dict[str, float]:
    """Figures over ``samples`` items of a dataset whose items are ``(image CHW uint8 RGB, labels (n, 6)
    [batch, class, x, y, w, h] normalised, path, shapes)``, as both sides' datasets return them."""
    import random

    import cv2

    random.seed(seed)
    np.random.seed(seed)
    boxes, sizes, pad, value, saturation = [], [], [], [], []
    for index in np.random.default_rng(seed).integers(0, len(dataset), samples):
        image, labels = dataset[int(index)][:2]
        image, labels = image.numpy().transpose(1, 2, 0), labels.numpy()
        boxes.append(len(labels))
        sizes.extend(np.sqrt(labels[:, 4] * labels[:, 5]).tolist())
        pad.append(float((image == PAD_VALUE).all(axis=2).mean()))
        hsv = cv2.cvtColor(np.ascontiguousarray(image[..., ::-1]), cv2.COLOR_BGR2HSV)
        value.append(float(hsv[..., 2].mean()))
        saturation.append(float(hsv[..., 1].mean()))
    sizes = np.array(sizes)
    return {
        "boxes per image": float(np.mean(boxes)),
        "boxes per image, std": float(np.std(boxes)),
        "box size sqrt(wh), mean": float(sizes.mean()),
        "box size, median": float(np.median(sizes)),
        "boxes under 2% of the side": float((sizes < 0.02).mean()),
        "grey padding fraction": float(np.mean(pad)),
        "HSV value, mean": float(np.mean(value)),
        "HSV saturation, mean": float(np.mean(saturation)),
    }


def ours(train: str, imgsz: int, samples: int, seed: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from utils.data.dataset import YoloDataset
    from utils.data.options import LoaderOptions
    from utils.hyp import load_hyp

    dataset = YoloDataset(train, LoaderOptions(imgsz, augment=True, hyp=load_hyp(HYP), workers=0))
    return sample_statistics(dataset, samples, seed)


def theirs(train: str, imgsz: int, samples: int, seed: int) -> dict[str, float]:
    import yaml
    from yolov5.utils.dataloaders import LoadImagesAndLabels

    dataset = LoadImagesAndLabels(train, imgsz, 16, augment=True, hyp=yaml.safe_load(HYP.read_text()))
    return sample_statistics(dataset, samples, seed)


def train_split(data_yaml: Path) -> str:
    import yaml

    data = yaml.safe_load(data_yaml.read_text())
    root = Path(data.get("path") or data_yaml.parent)
    root = root if root.is_absolute() else (data_yaml.parent / root)
    return str((root / data["train"]).resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset YAML (its train split is sampled)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--side", choices=["both", "ours", "theirs"], default="both", help=argparse.SUPPRESS)
    args = parser.parse_args()
    train = train_split(Path(args.data))
    if args.side != "both":
        side = ours if args.side == "ours" else theirs
        print(json.dumps(side(train, args.imgsz, args.samples, args.seed)))
        return
    from yolov5_package import THEIR_PYTHON, their_env

    their_command = [str(THEIR_PYTHON), __file__, "--data", args.data, "--imgsz", str(args.imgsz), "--samples",
                     str(args.samples), "--seed", str(args.seed), "--side", "theirs"]  # fmt: skip
    their_output = subprocess.run(their_command, capture_output=True, text=True, check=True,
                                  env=their_env(Path("/tmp/augment_stats")))  # fmt: skip
    figures = {"ours": ours(train, args.imgsz, args.samples, args.seed),
               "yolov5": json.loads(their_output.stdout.strip().splitlines()[-1])}  # fmt: skip
    print(f"Augmented training samples: {args.samples} per side, --imgsz {args.imgsz}, {HYP.name}, {train}\n")
    print("| figure | ours | yolov5 package |\n|---|---:|---:|")
    for name in figures["ours"]:
        print(f"| {name} | {figures['ours'][name]:.4f} | {figures['yolov5'][name]:.4f} |")


if __name__ == "__main__":
    main()
