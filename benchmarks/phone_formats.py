"""NCNN and TFLite beside the other CPU runtimes: one checkpoint exported to every CPU format, each file scored with
val.py and timed alternately in one process. Prints a markdown table and writes a CSV.

    python benchmarks/phone_formats.py --weights runs/train/exp/weights/best.pt --data data.yaml --imgsz 320
    python benchmarks/phone_formats.py --weights best.pt --data data.yaml --splits      # latency only

Rows: PyTorch fp32 (the checkpoint, fused), ONNX Runtime fp32, OpenVINO fp32, NCNN fp32 and fp16 (float16 weights
with NCNN's float16 storage and arithmetic on, as on a phone), TFLite fp32 and fp16-weights (LiteRT with XNNPACK;
float16 weights, float32 arithmetic) and int8 (``export.py --int8``: int8 body, float head, calibrated on
``--int8-images`` train images). The exported files are static, so val.py feeds them square letterboxed images
at ``--imgsz``, batch 1; the checkpoint gets val.py's rectangular letterbox (batch 1, ``score`` in
benchmarks/int8.py), so the exports' float reference is the ONNX Runtime fp32 row. Latency as in
benchmarks/int8.py: batch 1, ``--threads`` threads in every runtime, ``--rounds`` rounds timing every row ``--runs``
times in turn, the median over rounds and its ratio to PyTorch fp32 in the same rounds.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
from pathlib import Path

from int8 import add_common_arguments, latency, print_table, record, score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIELDS = ("row", "file", "threads", "median_ms", "ratio", "size_mb", "val_map50", "val_map", "test_map50", "test_map")


def export_files(weights: Path, imgsz: int, data: str, int8_images: int) -> dict[str, Path]:
    """Every CPU format of ``weights`` (in its own folder), static at ``imgsz``; float16 copies in ``f16/``; the
    TFLite INT8 file calibrated on ``int8_images`` train images of ``data``."""
    from utils.exporters import ExportOptions, export

    export(weights, ExportOptions(include=("onnx", "openvino", "ncnn", "tflite"), imgsz=imgsz))
    export(weights, ExportOptions(include=("tflite",), imgsz=imgsz, int8=True, data=data, int8_images=int8_images))
    (weights.parent / "f16").mkdir(exist_ok=True)
    half = Path(shutil.copy(weights, weights.parent / "f16" / weights.name))
    export(half, ExportOptions(include=("ncnn", "tflite"), imgsz=imgsz, half=True))
    folder, stem = weights.parent, weights.stem
    return {
        "PyTorch fp32": weights,
        "ONNX Runtime fp32": folder / f"{stem}.onnx",
        "OpenVINO fp32": folder / f"{stem}_openvino_model",
        "NCNN fp32": folder / f"{stem}_ncnn_model",
        "NCNN fp16": half.parent / f"{stem}_ncnn_model",
        "TFLite fp32": folder / f"{stem}_float32.tflite",
        "TFLite fp16 weights": half.parent / f"{stem}_float16.tflite",
        "TFLite int8": folder / f"{stem}_int8.tflite",
    }


def runners(files: dict[str, Path], threads: int) -> dict:
    """Row -> a callable on a (1, 3, H, W) float32 array, every runtime on ``threads`` threads, each file opened
    the way detect.py opens it."""
    import torch

    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
    from utils.inference.model_files import format_of, open_exported

    torch.set_num_threads(threads)
    model = model_from_checkpoint(load_checkpoint(files["PyTorch fp32"])).fuse().eval()
    out = {"PyTorch fp32": lambda x: model(torch.from_numpy(x))[0]}
    for row, path in files.items():
        if row != "PyTorch fp32":
            exported = open_exported(path, format_of(path), half=row == "NCNN fp16", threads=threads)
            out[row] = exported.run
    return out


def size_mb(path: Path) -> float:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return round(sum(p.stat().st_size for p in files) / 2**20, 2)


def machine() -> str:
    from importlib.metadata import version

    from utils.environment import cpu_name

    packages = ("torch", "onnxruntime", "openvino", "ncnn", "pnnx", "ai-edge-litert", "litert-torch")
    return f"{cpu_name()}; Python {platform.python_version()}, " + ", ".join(f"{p} {version(p)}" for p in packages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, "dataset YAML: train calibrates TFLite INT8, val and test score",
                         "runs/benchmarks/phone_formats")  # fmt: skip
    parser.add_argument("--int8-images", type=int, default=300)
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    files = export_files(Path(shutil.copy(args.weights, work / "best.pt")), args.imgsz, args.data, args.int8_images)
    maps = {(row, split): score(files[row], args.data, args.imgsz, split, row.endswith("fp16"), work / "val")
            for row in files for split in args.splits}  # fmt: skip
    table = []
    for threads in args.threads:
        times = latency(runners(files, threads), args.imgsz, args.rounds, args.runs)
        table += [record(row, f"{path.parent.name}/{path.name}", threads, times, maps, args.splits,
                         size_mb=size_mb(path)) for row, path in files.items()]  # fmt: skip
    print(f"\n{machine()}; batch 1, {args.imgsz} px\n")
    print_table(table, FIELDS, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
