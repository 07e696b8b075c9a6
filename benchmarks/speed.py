"""CPU speed and memory of every shipped config in every runtime: PyTorch (eager, fused), TorchScript, ONNX Runtime,
OpenVINO, and with requirements-export.txt NCNN, TFLite (LiteRT) and ExecuTorch. Prints a markdown table and writes a
CSV.

    python benchmarks/speed.py --imgsz 640 320                      # every config (slow: about an hour on 2 cores)
    python benchmarks/speed.py --imgsz 320 --configs yolov5n yolov5s yolov5s-efficientnet-b0 --threads 1 2

Each (config, size) is exported once (random weights, nc=80, Conv+BN fused) in a subprocess; then each runtime is
timed in a fresh subprocess of its own, so "peak MB" is that process's peak resident memory (``VmHWM``: Python,
torch and the runtime imported, the model loaded, the runs done) and "import MB" the same before the model loads.
Latency: batch 1, the median of ``--runs`` timed runs after ``--warmup`` runs, with ``--threads`` intra-op threads
in every runtime (torch.set_num_threads, ORT intra_op_num_threads, OpenVINO INFERENCE_NUM_THREADS, NCNN num_threads,
LiteRT num_threads), except ExecuTorch, whose Python runtime takes no thread count (XNNPACK's own pool). Every runtime
computes in float32; OpenVINO is told so (``INFERENCE_PRECISION_HINT f32``), as its default is bf16 on CPUs with
AVX512-BF16 or AMX. NCNN, TFLite and ExecuTorch are opened the way detect.py opens them.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ("pytorch", "torchscript", "onnxruntime", "openvino", "ncnn", "tflite", "executorch")
DEFAULT_RUNTIMES = RUNTIMES[:4]  # the others need requirements-export.txt
EXPORT_FORMAT = {"onnxruntime": "onnx", **{name: name for name in RUNTIMES[1:] if name != "onnxruntime"}}  # -> format
EXPORTED_FILE = {"ncnn": "{cfg}_ncnn_model", "tflite": "{cfg}_float32.tflite", "executorch": "{cfg}_executorch_model"}
FIELDS = ("config", "imgsz", "runtime", "params", "gflops", "threads", "median_ms", "p90_ms", "import_mb", "peak_mb")


def peak_mb() -> float:
    """This process's peak resident memory (Linux ``VmHWM``; unlike ``ru_maxrss`` it does not carry over the
    parent's peak through fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def export_worker(cfg: str, imgsz: int, out: Path, formats: list[str]) -> dict:
    """Export ``cfg`` (random weights) to ``formats`` under ``out`` (none for PyTorch alone); return params and
    GFLOPs."""
    import torch

    from models.summary import count_flops
    from models.yolo import DetectionModel
    from utils.exporters import ExportOptions, export_model

    torch.manual_seed(0)
    model = DetectionModel(f"{cfg}.yaml", verbose=False).fuse().eval()
    if formats:
        export_model(model, model.names, out / cfg, ExportOptions(formats, imgsz), check=False)
    return {"params": sum(p.numel() for p in model.parameters()), "gflops": count_flops(model, imgsz) / 1e9}


def load_runtime(runtime: str, cfg: str, folder: Path, threads: int):
    """A callable (1, 3, H, W) float32 numpy/tensor -> output, on ``threads`` CPU threads."""
    import torch

    torch.set_num_threads(threads)
    if runtime == "pytorch":
        from models.yolo import DetectionModel

        torch.manual_seed(0)
        model = DetectionModel(f"{cfg}.yaml", verbose=False).for_inference()
        return lambda x: model(x)[0]
    if runtime == "torchscript":
        module = torch.jit.load(str(folder / f"{cfg}.torchscript")).eval()
        return module
    if runtime == "onnxruntime":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = onnxruntime.InferenceSession(str(folder / f"{cfg}.onnx"), options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"images": x.numpy()})[0]
    if runtime in EXPORTED_FILE:
        return _detect_py_runtime(runtime, folder / EXPORTED_FILE[runtime].format(cfg=cfg), threads)
    from utils.inference.openvino_runtime import F32, compile_for_cpu, shared_core

    xml = folder / f"{cfg}_openvino_model" / f"{cfg}.xml"  # f32 set explicitly: bf16 is the default on some CPUs
    compiled = compile_for_cpu(shared_core(), str(xml), F32, {"INFERENCE_NUM_THREADS": threads,
                                                           "PERFORMANCE_HINT": "LATENCY"})  # fmt: skip
    return lambda x: compiled(x.numpy())[compiled.output(0)]


def _detect_py_runtime(runtime: str, path: Path, threads: int):
    """NCNN/TFLite through the loader detect.py uses (on ``threads`` threads); ExecuTorch through
    DetectMultiBackend."""
    if runtime == "executorch":
        from utils.inference.backends import DetectMultiBackend

        backend = DetectMultiBackend(path)
        return lambda x: backend(x)
    from utils.inference.model_files import open_exported

    exported = open_exported(path, runtime, threads=threads)
    return lambda x: exported.run(x.numpy())


def time_worker(runtime: str, cfg: str, imgsz: int, folder: Path, threads: int, runs: int, warmup: int) -> dict:
    """Median and p90 milliseconds of batch-1 inference, import and peak memory, in this (fresh) process."""
    import torch

    import_mb = peak_mb()
    run = load_runtime(runtime, cfg, folder, threads)
    image = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        for index in range(warmup + runs):
            start = time.perf_counter()
            run(image)
            if index >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
            "import_mb": import_mb, "peak_mb": peak_mb()}  # fmt: skip


def run_worker(*args: str) -> dict:
    """Run this script with ``--worker args...`` in a fresh interpreter; return the JSON it prints last."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions() -> str:
    import onnxruntime
    import openvino
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return (f"{cpu}, {platform.system()} {platform.release()}; Python {platform.python_version()}, torch "
            f"{torch.__version__}, onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=None, help="config names (default: every shipped one)")
    parser.add_argument("--imgsz", type=int, nargs="+", default=[640, 320])
    parser.add_argument("--runtimes", nargs="+", default=list(DEFAULT_RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="intra-op threads in every runtime")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--csv", type=Path, default=ROOT / "runs" / "benchmarks" / "speed.csv")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere
    if args.worker:
        kind, *rest = args.worker
        if kind == "export":
            result = export_worker(rest[0], int(rest[1]), Path(rest[2]), rest[3:])
        else:
            result = time_worker(kind, rest[0], int(rest[1]), Path(rest[2]), *map(int, rest[3:6]))
        print(json.dumps(result))
        return 0
    from models.yolo import CONFIG_DIR

    configs = args.configs or sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    formats = [EXPORT_FORMAT[runtime] for runtime in args.runtimes if runtime in EXPORT_FORMAT]
    threads = " and ".join(map(str, args.threads))
    print(f"{versions()}\nbatch 1, {threads} threads, median of {args.runs} runs after {args.warmup} warm-up\n")
    print("| config | imgsz | runtime | threads | params | GFLOPs | median ms | p90 ms | import MB | peak MB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as file, tempfile.TemporaryDirectory() as scratch:
        writer = csv.DictWriter(file, FIELDS)
        writer.writeheader()
        for imgsz in args.imgsz:
            for cfg in configs:
                size = run_worker("export", cfg, str(imgsz), scratch, *formats)
                for threads, runtime in ((t, r) for t in args.threads for r in args.runtimes):
                    timing = run_worker(runtime, cfg, str(imgsz), scratch, str(threads), str(args.runs),
                                        str(args.warmup))  # fmt: skip
                    row = {"config": cfg, "imgsz": imgsz, "runtime": runtime, **size, "threads": threads, **timing}
                    writer.writerow(row)
                    file.flush()
                    print(f"| {cfg} | {imgsz} | {runtime} | {threads} | {size['params']:,} | {size['gflops']:.1f} | "
                          f"{timing['median_ms']:.1f} | {timing['p90_ms']:.1f} | {timing['import_mb']:.0f} | "
                          f"{timing['peak_mb']:.0f} |", flush=True)  # fmt: skip
    print(f"\nCSV: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
