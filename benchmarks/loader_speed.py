"""Train-loader throughput (images/s) with mosaic on BCCD, converted to a temporary folder.

    python benchmarks/loader_speed.py [--bccd ../shared/datasets/bccd/BCCD] [--workers 2] [--epochs 2]

Prints a markdown table, one row per image size. The first epoch is a warm-up (worker start, file cache).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(train_dir: Path, imgsz: int, batch_size: int, workers: int, epochs: int) -> tuple[float, int]:
    """Images per second over ``epochs`` after one warm-up epoch, and the number of images timed."""
    from utils.data.dataloader import create_dataloader
    from utils.data.options import LoaderOptions
    from utils.hyp import load_hyp

    options = LoaderOptions(imgsz, batch_size, 32, hyp=load_hyp(), augment=True, shuffle=True, workers=workers, seed=0)
    loader, dataset = create_dataloader(train_dir, options)
    for _ in loader:  # warm-up
        pass
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for images, *_ in loader:
            count += len(images)
    return count / (time.perf_counter() - start), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bccd", type=Path, default=ROOT / ".." / "shared" / "datasets" / "bccd" / "BCCD")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--imgsz", type=int, nargs="+", default=[640, 320])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere
    from utils.data.convert import convert_voc

    with tempfile.TemporaryDirectory() as tmp:
        convert_voc(args.bccd, Path(tmp) / "bccd")
        print(f"BCCD train (205 images), mosaic, batch {args.batch_size}, {args.workers} workers\n")
        print("| imgsz | images/s | images timed |\n|---:|---:|---:|")
        for imgsz in args.imgsz:
            speed, count = measure(
                Path(tmp) / "bccd" / "images" / "train", imgsz, args.batch_size, args.workers, args.epochs
            )
            print(f"| {imgsz} | {speed:.1f} | {count} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
