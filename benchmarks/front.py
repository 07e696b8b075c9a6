"""The accuracy-latency front: backbones trained on BCCD at one budget, then scored, sized and timed together.

    python benchmarks/front.py                                   # every row: train what is missing, then measure
    python benchmarks/front.py --rows yolov5n lite0-pretrained --no-train   # measure what is here
    python benchmarks/front.py --scores benchmarks/results/front_bccd.csv   # carry recorded accuracy over
    python benchmarks/front.py --merge /tmp/front/lcnet100-scratch.csv      # a row trained alone, into the table
    python benchmarks/front.py --merge --seeds results/front_bccd_lite0_seed1.csv   # re-plot with another seed

Training: each row's config through ``bccd_vs_yolov5.py``'s runner (``--epochs`` 100, seed 0 or ``row:seed``, 320 px,
batch 16, hyp.scratch-low.yaml or the row's own recipe, CPU); a run whose best.pt is in ``--work`` is not trained again.
Per row: parameters and GFLOPs at ``--imgsz`` (fused); training seconds per epoch; pycocotools mAP50-95 on BCCD val
and test of best.pt, of its float32 OpenVINO export and of its INT8 one (NNCF, ``--int8-images`` train images): the
exports are static (square letterboxed input) where best.pt gets val.py's rectangular batches, so an INT8 file's
quantization loss is read against the float32 file, not best.pt; batch-1 latency in
PyTorch fp32, OpenVINO fp32 and OpenVINO INT8, every row and runtime timed in turn in the same rounds, also as a
ratio to the first row's PyTorch fp32; peak RSS of a detect.py process on the val images with best.pt and with the
torch-free INT8 model. A row with no best.pt (``--no-train``) is measured untrained (size, speed, memory), and takes
its accuracy and training time from the ``--scores`` CSV of an earlier run when that has the row.
Prints a markdown table, writes it as CSV (``--out``) and plots val mAP50-95 against latency (``--plot``).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

# label: (shipped config, changes: "backbone" for its row 0, "pretrained", "width" for width_multiple, "recipe" for
# a backbone_recipe; "hyp" for another recipe than hyp.scratch-low.yaml)
ROWS = {
    "yolov5n": ("yolov5n", {}),
    "yolov5s": ("yolov5s", {}),
    "lite0-pretrained": ("yolov5s-efficientnet-lite0", {"pretrained": True}),
    "lite0-scratch": ("yolov5s-efficientnet-lite0", {"pretrained": False}),
    # the fine-tuning recipe question: the same Lite0 with its backbone frozen for 3 epochs, then at lr0 x 0.1
    "lite0-pretrained-recipe": (
        "yolov5s-efficientnet-lite0",
        {"pretrained": True, "recipe": "{lr_multiplier: 0.1, frozen_epochs: 3}"},
    ),
    "lite1-pretrained": ("yolov5s-efficientnet-lite1", {"pretrained": True}),
    "lite2-pretrained": ("yolov5s-efficientnet-lite2", {"pretrained": True}),
    "b0-scratch": ("yolov5s-efficientnet-b0", {"pretrained": False}),
    # two CPU-designed timm families (from scratch: no weights can be downloaded here): MobileNetV4-Conv-S, made
    # for phone CPUs, and PP-LCNet, made for x86 CPUs with MKL-DNN
    "mobilenetv4s-scratch": (
        "yolov5s-efficientnet-lite0",
        {"backbone": "timm:mobilenetv4_conv_small", "pretrained": False},
    ),
    "lcnet100-scratch": ("yolov5s-efficientnet-lite0", {"backbone": "timm:lcnet_100", "pretrained": False}),
    # the nano-width question: Lite0 under yolov5n's neck and head (width 0.25)
    "lite0n-pretrained": ("yolov5s-efficientnet-lite0", {"pretrained": True, "width": 0.25}),
    # YOLOv7's CPU model with its own recipe (OTA loss); its paste-in needs polygon labels, which BCCD has not
    "yolov7-tiny": ("yolov7-tiny", {"hyp": "hyp.scratch.tiny.yaml"}),
}
RUNTIMES = ("PyTorch fp32", "OpenVINO fp32", "OpenVINO int8")
BACKBONE_ROW = re.compile(r"\[([\w:.-]+), \{pretrained: (true|false)")
WIDTH = re.compile(r"(?m)^width_multiple: [\d.]+")
SCORES = ("val_map", "test_map", "ov_val_map", "ov_test_map", "int8_val_map", "int8_test_map")
CARRIED = ("seed", "epochs", "train_s_per_epoch", *SCORES)


def row_config(label: str, work: Path) -> str:
    """A shipped config's name, or the path of the variant written under ``work/configs`` (another backbone in
    row 0, the other ``pretrained`` setting, another width, a ``backbone_recipe``)."""
    base, changes = ROWS[label]
    text = (ROOT / "configs" / "models" / f"{base}.yaml").read_text()
    variant = text
    if "backbone" in changes or "pretrained" in changes:
        match = BACKBONE_ROW.search(text)
        if match is None:
            raise SystemExit(f"configs/models/{base}.yaml: no '[name, {{pretrained: ...' backbone row to change")
        name = changes.get("backbone", match.group(1))
        flag = str(changes.get("pretrained", match.group(2) == "true")).lower()
        variant = variant[: match.start()] + f"[{name}, {{pretrained: {flag}" + variant[match.end() :]
    if "width" in changes:
        variant, count = WIDTH.subn(f"width_multiple: {changes['width']}", variant)
        if count != 1:
            raise SystemExit(f"configs/models/{base}.yaml: expected one width_multiple line, found {count}")
    if "recipe" in changes:
        if "\nbackbone_recipe:" in text:
            raise SystemExit(f"configs/models/{base}.yaml: has a backbone_recipe already; the row would hide it")
        variant += f"\nbackbone_recipe: {changes['recipe']}\n"
    if variant == text:
        return base
    path = work / "configs" / f"front-{label}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(variant)
    return str(path)


def parse_row(text: str) -> tuple[str, int]:
    """``label[:seed]`` -> (label, seed)."""
    label, _, seed = text.partition(":")
    if label not in ROWS or (seed and not seed.isdigit()):
        raise SystemExit(f"--rows {text!r}: expected label[:seed] with label one of {', '.join(ROWS)}")
    return label, int(seed or 0)


def seeded(label: str, seed: int) -> str:
    """The name of a row's files and val runs: another seed's best.pt must never stand in for this one's."""
    return label if seed == 0 else f"{label}_seed{seed}"


def row_weights(label: str, config: str, seed: int, args: argparse.Namespace, data_yaml: Path, work: Path) -> dict:
    """Train the row unless ``--no-train`` or trained before; copy its best.pt into
    ``work/front/<label>[_seed<N>]/trained/``, or save an untrained model into ``.../untrained/`` (once). Returns the
    row's record so far, with ``weights``."""
    import bccd_vs_yolov5 as runs

    name = runs.run_name("ours", config, args.epochs, seed)
    best = work / "runs" / name / "weights" / "best.pt"
    record = {"row": label, "config": Path(config).stem, "seed": seed, "epochs": args.epochs, "trained": False}
    if args.train or (best.exists() and (work / f"{name}.json").exists()):
        hyp = ROWS[label][1].get("hyp", runs.DEFAULT_HYP)
        timing = runs.train("ours", config, args.epochs, seed, data_yaml, work, hyp)
        record.update(trained=True, train_s_per_epoch=round(timing["train_s_per_epoch"], 1))
    folder = work / "front" / seeded(label, seed) / ("trained" if record["trained"] else "untrained")
    copied = folder / "best.pt"
    if record["trained"] and (not copied.exists() or copied.stat().st_mtime < best.stat().st_mtime):
        shutil.rmtree(folder, ignore_errors=True)  # a training done again: its old copy and exports must go
        folder.mkdir(parents=True)
        shutil.copy(best, copied)
    elif not copied.exists():
        save_untrained(config, data_yaml, copied)
    record["weights"] = copied
    return record


def save_untrained(config: str, data_yaml: Path, path: Path) -> None:
    import torch
    import yaml

    from models.yolo import DetectionModel
    from utils.train.untrained import save_untrained_checkpoint

    names = list(yaml.safe_load(data_yaml.read_text())["names"].values())
    cfg = config if config.endswith(".yaml") else f"{config}.yaml"
    torch.manual_seed(0)
    save_untrained_checkpoint(DetectionModel(cfg, nc=len(names), verbose=False), names, path)


def export_row(weights: Path, args: argparse.Namespace, data_yaml: Path) -> dict[str, Path]:
    """The row's runtime -> file: best.pt and its float32 and INT8 OpenVINO exports (made once)."""
    from utils.exporters import ExportOptions, export

    float_dir, int8_dir = weights.parent / "best_openvino_model", weights.parent / "best_int8_openvino_model"
    if not float_dir.exists():
        export(weights, ExportOptions(include=("openvino",), imgsz=args.imgsz))
    if not int8_dir.exists():
        export(weights, ExportOptions(include=("openvino",), imgsz=args.imgsz, int8=True, data=str(data_yaml),
                                      int8_images=args.int8_images))  # fmt: skip
    return dict(zip(RUNTIMES, (weights, float_dir, int8_dir)))


def size(weights: Path, imgsz: int) -> dict:
    """Parameters (millions) and GFLOPs of the fused model at ``imgsz``."""
    from models.summary import count_flops
    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(weights)).fuse().eval()
    return {"params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "gflops": round(count_flops(model, imgsz) / 1e9, 1)}  # fmt: skip


def accuracy(label: str, files: dict[str, Path], data_yaml: Path, work: Path) -> dict:
    """pycocotools mAP50-95 on val and test of best.pt, of the float32 OpenVINO model and of the INT8 one."""
    import bccd_vs_yolov5 as runs

    out = {}
    for prefix, short, runtime in zip(("", "ov_", "int8_"), ("pt", "ov", "int8"), RUNTIMES):
        for split in ("val", "test"):
            name = f"{label}_{short}"
            out[f"{prefix}{split}_map"] = round(runs.score(files[runtime], data_yaml, split, work, name)[1], 4)
    return out


def memory(label: str, files: dict[str, Path], source: Path, imgsz: int, work: Path) -> dict:
    """Peak RSS (MB) of detect.py on ``source`` with best.pt, and with the INT8 model without torch."""
    from deploy_memory import run_detect

    project = files["PyTorch fp32"].parent / "detect"
    peak = {key: run_detect(files[runtime], str(source), imgsz, project, False)["peak_mb"]
            for key, runtime in (("rss_pt_mb", "PyTorch fp32"), ("rss_int8_mb", "OpenVINO int8"))}  # fmt: skip
    return peak


def runners(files: dict[str, dict[str, Path]], threads: int) -> dict:
    """(row, runtime) -> a callable on a (1, 3, H, W) float32 array, every runtime on ``threads`` threads; the
    OpenVINO files opened as detect.py opens them (f32 inference precision: INT8 where NNCF quantized, f32 for
    the rest)."""
    import torch

    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
    from utils.inference.model_files import open_exported

    torch.set_num_threads(threads)
    out = {}
    for label, row in files.items():
        model = model_from_checkpoint(load_checkpoint(row["PyTorch fp32"])).fuse().eval()
        out[label, "PyTorch fp32"] = lambda x, m=model: m(torch.from_numpy(x))[0]
        for runtime in ("OpenVINO fp32", "OpenVINO int8"):
            out[label, runtime] = open_exported(row[runtime], "openvino", threads=threads).run
    return out


def carry_scores(records: list[dict], path: str | None) -> None:
    """Fill untrained rows' accuracy and training time from an earlier run's CSV, marking where they came from."""
    if not path:
        return
    with open(path, newline="") as handle:
        earlier = {row["row"]: row for row in csv.DictReader(handle) if row.get("val_map")}
    for record in records:
        if not record["trained"] and record["row"] in earlier:
            record.update({key: earlier[record["row"]][key] for key in CARRIED if earlier[record["row"]].get(key)})
            record["scores_from"] = Path(path).name


def lone_runs(paths: list[str], by_label: dict[str, dict]) -> Iterator[tuple[str, dict, dict]]:
    """(path, lone run's row, the table's row) for every row of the CSVs written by runs of their own (``--rows X
    --out X.csv``); refuses, with one line, a row not trained there or not in the table."""
    for path in paths:
        with open(path, newline="") as handle:
            for new in csv.DictReader(handle):
                if new.get("trained") != "True" or not new.get("val_map"):
                    raise SystemExit(f"{path}: row {new.get('row')!r} was not trained there")
                if new["row"] not in by_label:
                    raise SystemExit(f"{path}: row {new['row']!r} is not in the table; run --no-train with it first")
                yield path, new, by_label[new["row"]]


def merge(paths: list[str], table: Path) -> list[dict]:
    """Put the accuracy and training time of rows trained on their own (``--rows X --out X.csv``) into ``table``,
    keeping the table's latency and memory, which come from one joint run; returns the table's rows."""
    from int8 import write_csv

    if not table.is_file():
        raise SystemExit(f"{table}: no table to merge into; --out names the CSV of a joint run")
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0])
    for path, new, target in lone_runs(paths, {row["row"]: row for row in rows}):
        if target.get("seed") not in (None, "", new.get("seed")):
            raise SystemExit(f"{path}: row {new['row']!r} is seed {new.get('seed')}, the table's is seed "
                             f"{target['seed']}; merge only the seed the table holds")  # fmt: skip
        carried = {key: new[key] for key in CARRIED if key in new}  # older lone runs lack some scores
        target.update(carried)
        target["scores_from"] = f"{Path(path).name} (trained alone; latency and RSS from the joint run)"
        columns += [key for key in carried if key not in columns]  # a score the table is older than
    for row in rows:
        for key in columns:
            row.setdefault(key, "")
    write_csv(rows, columns, table)
    return rows


def seed_points(records: list[dict], paths: list[str], threads: int) -> list[tuple[float, float, float, float]]:
    """The other seeds of table rows (``--rows X:N --out X.csv``), as (INT8 ms, INT8 val mAP, PyTorch ms, val mAP):
    each at its row's latency from the joint run, so that the plot shows how far a row's accuracy moves with the
    seed."""
    points = []
    for _, other, row in lone_runs(paths, {record["row"]: record for record in records}):
        slow_map = float(other["val_map"])
        points.append((float(row[f"ov_int8_ms_{threads}t"]), float(other["int8_val_map"] or slow_map),
                       float(row[f"pt_ms_{threads}t"]), slow_map))  # fmt: skip
    return points


def plot(records: list[dict], threads: int, path: Path, seeds: list[str] = ()) -> None:
    """Val mAP50-95 against batch-1 latency per scored row: the INT8 OpenVINO file (filled) at its own mAP, best.pt
    in PyTorch fp32 (hollow); other seeds of a row (``seeds``, CSVs) as crosses at the row's latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in records if r.get("val_map") not in (None, "")]
    if not scored:
        print("no row has a val mAP (trained here or carried by --scores): no plot")
        return
    figure, axes = plt.subplots(figsize=(8, 4.5))
    labels = []
    for record in scored:
        slow_map = float(record["val_map"])
        fast_map = float(record.get("int8_val_map") or slow_map)  # carried-over rows may lack the INT8 score
        fast, slow = float(record[f"ov_int8_ms_{threads}t"]), float(record[f"pt_ms_{threads}t"])
        axes.plot([fast, slow], [fast_map, slow_map], color="0.8", zorder=1)
        axes.scatter([slow], [slow_map], facecolors="none", edgecolors="C0", zorder=2)
        axes.scatter([fast], [fast_map], color="C1", zorder=3)
        labels.append(
            axes.annotate(
                record["row"], (fast, fast_map), xytext=LABEL_SPOTS[0][:2], textcoords="offset points", fontsize=8
            )
        )
    for fast, fast_map, slow, slow_map in seed_points(scored, list(seeds), threads):
        axes.scatter([fast], [fast_map], marker="x", color="C1", zorder=3)
        axes.scatter([slow], [slow_map], marker="x", color="C0", zorder=2)
    axes.scatter([], [], color="C1", label="OpenVINO INT8")
    axes.scatter([], [], facecolors="none", edgecolors="C0", label="PyTorch fp32")
    if seeds:
        axes.scatter([], [], marker="x", color="0.3", label="another seed of the row")
    axes.set_xlabel(f"batch-1 CPU latency, ms ({threads} threads)")
    axes.set_ylabel("BCCD val mAP50-95 (pycocotools)")
    axes.set_xscale("log")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # outside: no corner is free of points
    figure.tight_layout()
    place_labels(figure, axes, labels)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    print(f"plot: {path}")


LABEL_SPOTS = ((5, 4, "left"), (5, -11, "left"), (-5, 4, "right"), (-5, -11, "right"), (5, 15, "left"))


def place_labels(figure, axes, labels: list) -> None:
    """Put each point's label at the first spot around it (``LABEL_SPOTS``, in points) that covers no labelled
    point and no label placed before it: rows close in latency and mAP would print their names over each other."""
    from matplotlib.transforms import Bbox

    renderer = figure.canvas.get_renderer()
    points = axes.transData.transform([label.xy for label in labels])
    placed = [Bbox.from_extents(x - 4, y - 4, x + 4, y + 4) for x, y in points]  # a marker's size, in pixels
    for label in labels:
        for x, y, align in LABEL_SPOTS:
            label.set_position((x, y))
            label.set_horizontalalignment(align)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        else:
            label.set_position(LABEL_SPOTS[0][:2])  # every spot taken: the default, overlapping
            label.set_horizontalalignment(LABEL_SPOTS[0][2])
            box = label.get_window_extent(renderer)
        placed.append(box)


def main() -> int:
    from int8 import latency, machine, print_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="label[:seed], in table order")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--no-train", dest="train", action="store_false", help="measure only what is trained")
    parser.add_argument("--bccd", default=str(ROOT.parent / "shared" / "datasets" / "bccd" / "BCCD"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "front"), help="data, runs, exports and logs")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--int8-images", type=int, default=300)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scores", default=None, help="an earlier run's CSV: accuracy for rows not trained here")
    parser.add_argument(
        "--merge",
        nargs="*",
        metavar="CSV",
        default=None,
        help="rows trained alone: put their accuracy into --out and re-plot (trains, times nothing; none: re-plot)",
    )
    parser.add_argument("--seeds", nargs="+", metavar="CSV", default=[], help="other seeds of rows, for the plot")
    parser.add_argument("--out", default=str(RESULTS / "front_bccd.csv"), help="CSV of the table")
    parser.add_argument("--plot", default=str(RESULTS / "front_bccd.png"), help="latency-vs-mAP plot (PNG)")
    args = parser.parse_args()
    if args.merge is not None:
        plot(merge(args.merge, Path(args.out)), max(args.threads), Path(args.plot), args.seeds)
        return 0
    import bccd_vs_yolov5 as runs

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data_yaml = runs.prepare(work, Path(args.bccd))
    plan = [parse_row(text) for text in args.rows]
    records, files = [], {}
    for label, seed in plan:
        config = row_config(label, work)
        record = row_weights(label, config, seed, args, data_yaml, work)
        files[label] = export_row(record.pop("weights"), args, data_yaml)
        record.update(size(files[label]["PyTorch fp32"], args.imgsz))
        if record["trained"]:
            record.update(accuracy(seeded(label, seed), files[label], data_yaml, work))
        record.update(memory(label, files[label], work / "bccd" / "images" / "val", args.imgsz, work))
        records.append(record)
    carry_scores(records, args.scores)
    reference = plan[0][0]
    for threads in args.threads:
        times = latency(runners(files, threads), args.imgsz, args.rounds, args.runs)
        base = times[reference, "PyTorch fp32"]
        for record in records:
            for runtime, key in zip(RUNTIMES, ("pt", "ov", "ov_int8")):
                record[f"{key}_ms_{threads}t"] = round(times[record["row"], runtime], 2)
                record[f"{key}_x_{threads}t"] = round(times[record["row"], runtime] / base, 3)
    fields = ("row", "config", "seed", "epochs", "trained", "scores_from", "params_m", "gflops", "train_s_per_epoch",
              *SCORES,
              *(f"{key}_{unit}_{t}t" for t in args.threads for key in ("pt", "ov", "ov_int8") for unit in ("ms", "x")),
              "rss_pt_mb", "rss_int8_mb")  # fmt: skip
    for record in records:
        record.update({field: record.get(field, "") for field in fields})
    print(f"\n{machine()}; batch 1, {args.imgsz} px; ratios (_x_) to {reference} in PyTorch fp32\n")
    print_table(records, fields, args.out)
    plot(records, max(args.threads), Path(args.plot), args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
