"""INT8 against float on the CPU: one checkpoint exported to float32 and INT8 ONNX and OpenVINO files, each scored
with val.py on the dataset's val and test splits and timed alternately in one process. Prints a markdown table and
writes a CSV.

    python benchmarks/int8.py --weights runs/train/exp/weights/best.pt --data data.yaml --imgsz 320
    python benchmarks/int8.py --weights untrained_yolov5s.pt --data data.yaml --splits   # latency only

Rows: PyTorch fp32 (the checkpoint, fused) / bf16 (autocast, as ``--half``; CPUs with AVX512-BF16 or AMX), ONNX
Runtime fp32 / int8, OpenVINO fp32 / bf16 (CPUs with it) / int8.
mAP: val.py's figures (conf 0.001, IoU 0.6); the exported files are static, so val.py feeds them square letterboxed
images at ``--imgsz``; the checkpoint gets val.py's own rectangular batches (batch 1), so its row is a reference,
and each INT8 row is to be read against the float32 row of its own runtime.
Latency: batch 1, ``--threads`` intra-op threads in every runtime, ``--rounds`` rounds each timing every row for
``--runs`` runs in turn; the median over rounds, as a ratio to PyTorch fp32 measured in the same rounds.
"""

from __future__ import annotations

import argparse
import csv
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIELDS = ("row", "file", "threads", "median_ms", "ratio", "val_map50", "val_map", "test_map50", "test_map")


def export_files(weights: Path, data: str, imgsz: int, calibration_images: int) -> dict[str, Path]:
    """Float32 and INT8 ONNX/OpenVINO files of ``weights`` (copied first), static at ``imgsz``; row -> file."""
    from utils.exporters import ExportOptions, export

    export(weights, ExportOptions(include=("onnx", "openvino"), imgsz=imgsz))
    export(weights, ExportOptions(include=("onnx", "openvino"), imgsz=imgsz, int8=True, data=data,
                                  int8_images=calibration_images))  # fmt: skip
    folder, stem = weights.parent, weights.stem
    return {
        "PyTorch fp32": weights,
        "PyTorch bf16": weights,
        "ONNX Runtime fp32": folder / f"{stem}.onnx",
        "ONNX Runtime int8": folder / f"{stem}_int8.onnx",
        "OpenVINO fp32": folder / f"{stem}_openvino_model",
        "OpenVINO bf16": folder / f"{stem}_openvino_model",
        "OpenVINO int8": folder / f"{stem}_int8_openvino_model",
    }


def score(path: Path, data: str, imgsz: int, split: str, half: bool, project: Path) -> tuple[float, float]:
    """(mAP50, mAP50-95) of val.py on ``split``, batch 1: a .pt gets val.py's rectangular letterbox, a static
    export its square one (so compare exports with the ONNX Runtime fp32 row, not with the .pt)."""
    import val

    argv = ["--weights", str(path), "--data", data, "--imgsz", str(imgsz), "--task", split, "--batch-size", "1",
            "--workers", "2", "--project", str(project), "--name", "run", "--device", "cpu"]  # fmt: skip
    result = val.run(val.parse_args(argv + (["--half"] if half else [])))[0]
    return result.map50, result.map


def runners(files: dict[str, Path], threads: int, bf16: bool) -> dict:
    """Row -> a callable on a (1, 3, H, W) float32 array, every runtime on ``threads`` threads."""
    import onnxruntime
    import torch

    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
    from utils.inference.model_files import single_xml
    from utils.inference.openvino_runtime import BF16, F32, compile_for_cpu, shared_core

    torch.set_num_threads(threads)
    model = model_from_checkpoint(load_checkpoint(files["PyTorch fp32"])).fuse().eval()
    out = {"PyTorch fp32": lambda x: model(torch.from_numpy(x))[0]}
    if bf16:  # what val.py/detect.py --half do on such a CPU: bf16 autocast

        def autocast_bf16(x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(torch.from_numpy(x))[0]

        out["PyTorch bf16"] = autocast_bf16
    for row in ("ONNX Runtime fp32", "ONNX Runtime int8"):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = onnxruntime.InferenceSession(str(files[row]), options, providers=["CPUExecutionProvider"])
        out[row] = lambda x, s=session: s.run(None, {"images": x})[0]
    core = shared_core()
    for row in ("OpenVINO fp32", "OpenVINO bf16", "OpenVINO int8"):
        if row.endswith("bf16") and not bf16:
            continue
        properties = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        compiled = compile_for_cpu(core, str(single_xml(files[row])), BF16 if "bf16" in row else F32, properties)
        out[row] = lambda x, c=compiled: c(x)[c.output(0)]
    return out


def latency(run: dict, imgsz: int, rounds: int, runs: int) -> dict[str, float]:
    """Median milliseconds per row over ``rounds`` rounds that each time every row ``runs`` times, in turn."""
    import numpy as np
    import torch

    image = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    samples: dict[str, list[float]] = {row: [] for row in run}
    with torch.inference_mode():
        for row in run:  # warm up every runtime once before timing any
            for _ in range(3):
                run[row](image)
        for _ in range(rounds):
            for row, call in run.items():
                start = time.perf_counter()
                for _ in range(runs):
                    call(image)
                samples[row].append((time.perf_counter() - start) * 1e3 / runs)
    return {row: statistics.median(values) for row, values in samples.items()}


def record(row: str, file: str, threads: int, times: dict, maps: dict, splits: list[str], **extra) -> dict:
    """One table row: its latency and ratio to PyTorch fp32, ``extra`` columns, then its mAP on each split."""
    out = {"row": row, "file": file, "threads": threads, "median_ms": round(times[row], 2),
           "ratio": round(times[row] / times["PyTorch fp32"], 3), **extra}  # fmt: skip
    for split in splits:
        out[f"{split}_map50"], out[f"{split}_map"] = (round(v, 4) for v in maps[row, split])
    return out


def add_common_arguments(parser: argparse.ArgumentParser, data_help: str, work: str) -> None:
    """The flags every runtime-comparison benchmark here takes."""
    parser.add_argument("--weights", required=True, help="a checkpoint of train.py (copied, never written beside)")
    parser.add_argument("--data", required=True, help=data_help)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--splits", nargs="*", default=["val", "test"], help="splits to score; none: latency only")
    parser.add_argument("--work", default=work, help="exported files and val runs")
    parser.add_argument("--out", default=None, help="CSV of the table")


def print_table(table: list[dict], fields: tuple[str, ...], out: str | None) -> None:
    """Print the records as a markdown table (the ``fields`` they have, in that order); write a CSV to ``out``."""
    columns = [f for f in fields if f in table[0]]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for record in table:
        print("| " + " | ".join(str(record[c]) for c in columns) + " |")
    if out:
        write_csv(table, columns, Path(out))


def write_csv(rows: list[dict], columns: list[str], path: Path) -> None:
    """Write ``rows`` to ``path`` through a file beside it and a rename: an interrupted run never leaves a table
    that a long measurement wrote half of."""
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def machine() -> str:
    import nncf
    import onnxruntime
    import openvino
    import torch

    from utils.environment import cpu_name

    return (f"{cpu_name()}; Python {platform.python_version()}, torch {torch.__version__}, onnxruntime "
            f"{onnxruntime.__version__}, openvino {openvino.__version__}, nncf {nncf.__version__}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, "dataset YAML: train calibrates, val and test score", "runs/benchmarks/int8")
    parser.add_argument("--int8-images", type=int, default=300)
    args = parser.parse_args()

    from utils.inference.openvino_runtime import cpu_supports_bf16, shared_core

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    weights = Path(shutil.copy(args.weights, work / "best.pt"))
    files = export_files(weights, args.data, args.imgsz, args.int8_images)
    bf16 = cpu_supports_bf16(shared_core())
    rows = [row for row in files if bf16 or not row.endswith("bf16")]
    maps = {}
    for row in rows:
        for split in args.splits:
            maps[row, split] = score(files[row], args.data, args.imgsz, split, row.endswith("bf16"), work / "val")
    table = []
    for threads in args.threads:
        times = latency(runners(files, threads, bf16), args.imgsz, args.rounds, args.runs)
        table += [record(row, files[row].name, threads, times, maps, args.splits) for row in rows]
    print(f"\n{machine()}; batch 1, {args.imgsz} px, calibration {args.int8_images} train images\n")
    print_table(table, FIELDS, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
