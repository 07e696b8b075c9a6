"""Train on BCCD from scratch with our train.py and with the ultralytics ``yolov5`` PyPI package, one run after
the other, then score every best.pt on BCCD val and test with one evaluator: pycocotools' COCOeval on COCO JSON
built from the label files (conf 0.001, NMS IoU 0.6, at most 300 detections, no NMS time limit).

    python benchmarks/bccd_vs_yolov5.py                       # yolov5n x2 (100 epochs), yolov5s and -efficientnet-b0
    python benchmarks/bccd_vs_yolov5.py --runs ours:yolov5n:3 yolov5:yolov5n:3 --work /tmp/bccd_bench

A run is ``side:config:epochs[:seed]`` with side ``ours`` or ``yolov5`` (seed 0 unless given). Settings, both
sides: ``--imgsz 320 --batch-size 16 --device cpu --workers 2``, ``hyp.scratch-low.yaml``, default thread count.
Training seconds per epoch are read from each side's tqdm training bars (the epoch's elapsed time, validation excluded);
wall time includes validation and start-up. The package's best.pt is read by our checkpoint loader, which
rebuilds the same architecture and loads its tensors strictly (its EMA, as the package's own val.py uses), so both
sides' detections come from the same pre- and post-processing. A run whose best.pt exists is not trained again.
Prints a markdown table and writes it as CSV to ``benchmarks/results/`` (``bccd_vs_yolov5.md`` there is the
annotated record of the runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from yolov5_package import THEIR_PYTHON, their_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_RUNS = ["ours:yolov5n:100", "yolov5:yolov5n:100", "ours:yolov5s:50", "ours:yolov5s-efficientnet-b0:50"]
COMMON = ["--imgsz", "320", "--batch-size", "16", "--device", "cpu", "--workers", "2", "--weights", ""]
# The end of a training bar: "  7/99  0G  0.09  0.17  0.03  412  320: 100%|##########| 13/13 [00:09<00:00, ...]"
DEFAULT_HYP = "hyp.scratch-low.yaml"
EPOCH_BAR = re.compile(r"^\s*(\d+)/\d+\s+\S+G\s.*\|\s*(\d+)/(\d+) \[(?:(\d+):)?(\d+):(\d+)<")


def prepare(work: Path, bccd: Path) -> Path:
    """BCCD converted to the YOLO layout under ``work`` (once); returns a data YAML with an absolute path."""
    data_dir = work / "bccd"
    if not (data_dir / "data.yaml").exists():
        subprocess.run([sys.executable, "-m", "utils.convert", "voc", str(bccd), str(data_dir)], cwd=ROOT, check=True)
    text = (data_dir / "data.yaml").read_text()
    data_yaml = work / "bccd_abs.yaml"
    data_yaml.write_text(re.sub(r"(?m)^path:.*$", f"path: {data_dir.resolve()}", text))
    return data_yaml


def run_name(side: str, config: str, epochs: int, seed: int) -> str:
    return f"{side}_{Path(config).stem}_{epochs}" + (f"_seed{seed}" if seed else "")


def train_command(
    side: str, config: str, epochs: int, seed: int, data_yaml: Path, project: Path, hyp: str = DEFAULT_HYP
) -> list[str]:
    where = ["--project", str(project), "--name", run_name(side, config, epochs, seed), "--exist-ok", "--epochs",
             str(epochs), "--seed", str(seed)]  # fmt: skip
    if side == "ours":
        cfg = config if config.endswith(".yaml") else f"configs/models/{config}.yaml"  # a path, or a shipped name
        return [sys.executable, "train.py", "--data", str(data_yaml), "--cfg", cfg,
                "--hyp", f"configs/hyps/{hyp}", *COMMON, *where]  # fmt: skip
    package = subprocess.run([str(THEIR_PYTHON), "-c", "import yolov5, os; print(os.path.dirname(yolov5.__file__))"],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]  # fmt: skip
    # the last line: on a fresh machine importing yolov5 first prints ultralytics' "Creating new Settings" notice
    cfg, hyp_path = f"{package}/models/{config}.yaml", f"{package}/data/hyps/{hyp}"
    return [str(THEIR_PYTHON), "-m", "yolov5.train", "--data", str(data_yaml), "--cfg", cfg, "--hyp", hyp_path, *COMMON,
            *where]  # fmt: skip


def train(side: str, config: str, epochs: int, seed: int, data_yaml: Path, work: Path, hyp: str = DEFAULT_HYP) -> dict:
    """Run one training (unless its best.pt exists) with ``hyp`` (a file name in either side's hyps folder);
    returns its timing record, kept beside the log."""
    name = run_name(side, config, epochs, seed)
    run_dir, log, record_file = work / "runs" / name, work / f"{name}.log", work / f"{name}.json"
    if (run_dir / "weights" / "best.pt").exists() and record_file.exists():
        return json.loads(record_file.read_text())
    env = their_env(work) if side == "yolov5" else dict(os.environ)
    command = train_command(side, config, epochs, seed, data_yaml, work / "runs", hyp)
    print(f"training {name}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
    epoch_seconds = training_seconds_per_epoch(log.read_text(errors="replace"))
    if not (run_dir / "weights" / "best.pt").exists():
        raise SystemExit(f"{name}: no best.pt after training (exit code {code}); see {log}")
    if code != 0:  # the package ends on Pillow's removed getsize after its last epoch; results are complete
        print(f"{name}: exit code {code} after training (see {log}); its weights are complete", flush=True)
    record = {"wall_s": wall, "epochs_timed": len(epoch_seconds), "train_s_per_epoch": mean(epoch_seconds)}
    record_file.write_text(json.dumps(record))
    return record


def parse_run(text: str) -> tuple[str, str, int, int]:
    """``side:config:epochs[:seed]`` -> (side, config, epochs, seed)."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[0] not in ("ours", "yolov5"):
        raise SystemExit(f"--runs {text!r}: expected side:config:epochs[:seed] with side ours or yolov5")
    return parts[0], parts[1], int(parts[2]), int(parts[3]) if len(parts) == 4 else 0


def training_seconds_per_epoch(log_text: str) -> list[float]:
    """Each epoch's training-bar elapsed time (seconds), read from the final state of its tqdm bar."""
    seconds = {}
    for segment in re.split(r"[\r\n]", log_text):
        match = EPOCH_BAR.match(segment)
        if match and match.group(2) == match.group(3):
            hours, minutes, secs = (int(g or 0) for g in match.group(4, 5, 6))
            seconds[int(match.group(1))] = hours * 3600 + minutes * 60 + secs
    return list(seconds.values())


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def score(weights: Path, data_yaml: Path, split: str, work: Path, name: str = "") -> tuple[float, float]:
    """pycocotools' (mAP@0.5, mAP@0.5:0.95) of ``weights`` (any format val.py reads) on ``split`` through val.py's
    pipeline; the val run is ``work/val/<name or the run's name>_<split>``."""
    import val

    args = val.parse_args([
        "--weights", str(weights), "--data", str(data_yaml), "--task", split, "--imgsz", "320", "--device", "cpu",
        "--conf-thres", "0.001", "--iou-thres", "0.6", "--max-det", "300", "--save-json", "--workers", "2",
        "--project", str(work / "val"), "--name", f"{name or weights.parents[1].name}_{split}", "--exist-ok",
    ])  # fmt: skip
    result, _ = val.run(args)
    return result.coco_map50, result.coco_map


def write_table(rows: list[dict]) -> str:
    header = ["side", "config", "epochs", "seed", "train s/epoch", "wall min", "val mAP50", "val mAP50-95",
              "test mAP50", "test mAP50-95"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        maps = [f"{r[k]:.3f}" for k in ("val_map50", "val_map", "test_map50", "test_map")]
        timing = [f"{r['train_s_per_epoch']:.1f}", f"{r['wall_s'] / 60:.1f}"]
        cells = [r["side"], r["config"], r["epochs"], r["seed"], *timing]
        lines.append("| " + " | ".join(map(str, cells + maps)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="side:config:epochs, in order")
    parser.add_argument("--bccd", default=str(ROOT.parent / "shared" / "datasets" / "bccd" / "BCCD"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "bccd_vs_yolov5"), help="data, runs and logs")
    parser.add_argument("--out", default=str(RESULTS / "bccd_vs_yolov5.csv"), help="CSV of the printed table")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if any(run.startswith("yolov5:") for run in args.runs) and not THEIR_PYTHON.exists():
        raise SystemExit(f"{THEIR_PYTHON} not found: run tests/reference/install_yolov5.sh first")
    data_yaml = prepare(work, Path(args.bccd))
    plan = [parse_run(run) for run in args.runs]
    records = [train(*run, data_yaml, work) for run in plan]
    rows = []
    for (side, config, epochs, seed), record in zip(plan, records):
        weights = work / "runs" / run_name(side, config, epochs, seed) / "weights" / "best.pt"
        val_map50, val_map = score(weights, data_yaml, "val", work)
        test_map50, test_map = score(weights, data_yaml, "test", work)
        rows.append({"side": side, "config": config, "epochs": epochs, "seed": seed, **record, "val_map50": val_map50,
                     "val_map": val_map, "test_map50": test_map50, "test_map": test_map})  # fmt: skip
    table = write_table(rows)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
