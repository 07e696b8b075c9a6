"""Peak memory of a detect.py process: the torch path against the torch-free one (utils/deploy).

    python benchmarks/deploy_memory.py --weights best.pt --source path/to/images --imgsz 640
    python benchmarks/deploy_memory.py --weights best.pt --source images/ --imgsz 320 --int8-data data.yaml

``best.pt`` is exported to ONNX, OpenVINO, NCNN and TFLite at ``--imgsz`` (into ``--work``); then detect.py runs on
``--source`` once per row, each in a fresh interpreter that reports its own peak resident memory (Linux ``VmHWM``)
and which of torch/torchvision/timm it imported. Rows: the checkpoint (torch path), the ONNX file with torch imported
first (what every detect.py process carried before the torch-free path), then each exported model without torch;
with ``--int8-data``, also the OpenVINO INT8 and TFLite int8 files (``export.py --int8``, calibrated on that
dataset's train images).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
sys.path.insert(0, {root!r})
{preload}
import detect
rc = detect.main({argv!r})
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
heavy = [name for name in ("torch", "torchvision", "timm") if name in sys.modules]
print(json.dumps({{"rc": rc, "peak_mb": round(peak), "imports": heavy}}))
"""


def run_detect(weights: Path, source: str, imgsz: int, project: Path, preload_torch: bool) -> dict:
    argv = ["--weights", str(weights), "--source", source, "--imgsz", str(imgsz), "--device", "cpu", "--project",
            str(project), "--nosave"]  # fmt: skip
    code = CHILD.format(root=str(ROOT), argv=argv, preload="import torch" if preload_torch else "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a checkpoint of train.py (copied into --work)")
    parser.add_argument("--source", required=True, help="images for detect.py")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--work", default="runs/benchmarks/deploy_memory")
    parser.add_argument("--phone-formats", nargs="*", default=["ncnn", "tflite"], choices=["ncnn", "tflite"],
                        help="also these (requirements-export.txt); none: ONNX and OpenVINO only")  # fmt: skip
    parser.add_argument("--int8-data", default=None, help="a dataset YAML: also the INT8 files, calibrated on it")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from utils.environment import cpu_name
    from utils.exporters import ExportOptions, export

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    weights = Path(shutil.copy(args.weights, work / "best.pt"))
    export(weights, ExportOptions(include=("onnx", "openvino", *args.phone_formats), imgsz=args.imgsz))
    rows = [
        ("PyTorch (best.pt)", weights, False),
        ("ONNX Runtime, torch imported", work / "best.onnx", True),
        ("ONNX Runtime, torch-free", work / "best.onnx", False),
        ("OpenVINO, torch-free", work / "best_openvino_model", False),
    ]
    if "ncnn" in args.phone_formats:
        rows.append(("NCNN, torch-free", work / "best_ncnn_model", False))
    if "tflite" in args.phone_formats:
        rows.append(("TFLite (LiteRT), torch-free", work / "best_float32.tflite", False))
    if args.int8_data:
        int8_formats = ("openvino", *(("tflite",) if "tflite" in args.phone_formats else ()))
        export(weights, ExportOptions(include=int8_formats, imgsz=args.imgsz, int8=True, data=args.int8_data))
        rows.append(("OpenVINO INT8, torch-free", work / "best_int8_openvino_model", False))
        if "tflite" in args.phone_formats:
            rows.append(("TFLite int8, torch-free", work / "best_int8.tflite", False))
    images = len([p for p in Path(args.source).iterdir() if p.is_file()]) if Path(args.source).is_dir() else "?"
    print(f"\n{cpu_name()}, Python {platform.python_version()}; detect.py on {images} images of {args.source} at "
          f"{args.imgsz} px, --nosave\n")  # fmt: skip
    print("| detect.py path | peak RSS MB | heavy imports |\n|---|---|---|")
    for label, path, preload in rows:
        result = run_detect(path, args.source, args.imgsz, work / "detect", preload)
        print(f"| {label} | {result['peak_mb']} | {', '.join(result['imports']) or 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
