"""Our yolov5n/yolov5s against the ultralytics ``yolov5`` PyPI package: same architecture, same weights, same
input, same thread count, in one run. Prints latency ratios ours/theirs (target <= 1.0) and writes a CSV.

    python benchmarks/vs_yolov5.py                        # yolov5n, yolov5s; inference at 640 and 320; training
    python benchmarks/vs_yolov5.py --models yolov5n --imgsz 320 --rounds 6 --threads 1

The package lives in its own venv (``tests/reference/install_yolov5.sh``), so each side is a long-lived worker process
(ours: this interpreter; theirs: ``.venv-yolov5/bin/python``) that reads JSON commands on stdin. The parent alternates
them: round after round, each side times ``--runs`` calls after one untimed call, the first side changing every round,
so drift in machine load hits both sides alike. Both load the same random state_dict (our parameter names equal
theirs) and prepare the model as their own detect.py and train.py do: fused for inference, under
``torch.inference_mode``; ours also turns the weights channels-last, for inference and training. Training step:
forward, each side's own YOLOv5 loss on the same fixed targets (gains from ``configs/hyps/hyp.scratch-low.yaml``),
backward, SGD step, at batch 16 and 320 px.
Each side also counts its minor page faults per call: memory its allocator handed back to the operating system and
touches again, a cost that no operator profile shows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from yolov5_package import THEIR_PYTHON, their_env

ROOT = Path(__file__).resolve().parents[1]
HYP_FILE = ROOT / "configs" / "hyps" / "hyp.scratch-low.yaml"


# -- worker side: runs in either venv, imports only torch and its own side's model code ---------------------------
class Worker:
    """One side. ``side`` is "ours" or "theirs"; commands are dicts, answers are dicts."""

    def __init__(self, side: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.side, self.model, self.optimizer = side, None, None

    def build(self, name: str, weights: str, fused: bool) -> dict:
        import torch

        if self.side == "ours":
            from models.yolo import DetectionModel

            model = DetectionModel(f"{name}.yaml", verbose=False)
        else:
            import yolov5
            from yolov5.models.yolo import Model

            model = Model(str(Path(yolov5.__file__).parent / "models" / f"{name}.yaml"), ch=3, nc=80)
        if not Path(weights).exists():
            torch.save(model.state_dict(), weights)  # the first side to build writes the weights both use
        model.load_state_dict(torch.load(weights, weights_only=True), strict=True)
        if fused:  # each side as its detect.py runs it
            self.model = model.for_inference() if self.side == "ours" else model.fuse().eval()
        else:
            self.model = model.for_training() if self.side == "ours" else model.train()  # as each train.py does
            self.optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.937)
        return {"params": sum(p.numel() for p in model.parameters())}

    def _loss(self, imgsz: int, hyp: dict):
        """Each side's loss with the hyp file's gains scaled as its train.py scales them for ``imgsz``."""
        if self.side == "ours":
            from utils.train.loss import YoloLoss

            head = self.model.head
            return YoloLoss.from_hyp(head.anchors, head.nc, hyp, image_size=imgsz)
        from yolov5.utils.loss import ComputeLoss

        self.model.hyp = {**hyp, "obj": hyp["obj"] * (imgsz / 640) ** 2, "label_smoothing": 0.0}
        return ComputeLoss(self.model)

    def infer(self, imgsz: int, runs: int) -> dict:
        import torch

        image = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
        times, faults = [], []
        with torch.inference_mode():
            for _ in range(runs):
                start, start_faults = time.perf_counter(), page_faults()
                self.model(image)
                times.append(time.perf_counter() - start)
                faults.append(page_faults() - start_faults)
        return {"times": times, "faults": faults}

    def train(self, batch: int, imgsz: int, hyp: dict, runs: int) -> dict:
        import torch

        generator = torch.Generator().manual_seed(0)
        images = torch.rand(batch, 3, imgsz, imgsz, generator=generator)
        boxes = torch.rand(batch * 4, 4, generator=generator) * 0.5 + 0.25  # 4 boxes per image, xywh normalised
        classes = torch.randint(0, 80, (batch * 4, 1), generator=generator).float()
        targets = torch.cat((torch.arange(batch).repeat_interleave(4)[:, None].float(), classes, boxes), 1)
        compute_loss = self._loss(imgsz, hyp)
        times, faults = [], []
        for _ in range(runs):
            start, start_faults = time.perf_counter(), page_faults()
            loss, _ = compute_loss(self.model(images), targets)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - start)
            faults.append(page_faults() - start_faults)
        return {"times": times, "faults": faults}


def page_faults() -> int:
    """Minor page faults of this process so far: memory the allocator handed back to the OS and takes again."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def serve(side: str, threads: int) -> None:
    worker = Worker(side, threads)
    for line in sys.stdin:
        command = json.loads(line)
        answer = getattr(worker, command.pop("op"))(**command)
        print(json.dumps(answer), flush=True)


# -- parent side -------------------------------------------------------------------------------------------------
class Side:
    """A worker process and the JSON-lines pipe to it."""

    def __init__(self, side: str, python: Path, threads: int, env: dict) -> None:
        self.name = side
        command = [str(python), str(Path(__file__).resolve()), "--worker", side, "--threads", str(threads)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)  # fmt: skip

    def ask(self, op: str, **kwargs) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with code {self.process.wait()}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def alternate(ours: Side, theirs: Side, op: str, rounds: int, runs: int, **kwargs) -> dict[str, dict[str, float]]:
    """Median seconds and minor page faults per call of each side over ``rounds`` turns of ``runs`` timed calls.

    The side that goes first changes every round, and each turn starts with one untimed call: the first call
    after the other process has run pays for its idle threads waking up and its caches refilling, and that cost
    would otherwise fall on whichever side always follows."""
    answers = {"ours": {"times": [], "faults": []}, "theirs": {"times": [], "faults": []}}
    for round_index in range(rounds):
        order = (ours, theirs) if round_index % 2 == 0 else (theirs, ours)
        for side in order:
            side.ask(op, runs=1, **kwargs)
            answer = side.ask(op, runs=runs, **kwargs)
            for key in ("times", "faults"):
                answers[side.name][key] += answer[key]
    return {name: {key: statistics.median(values) for key, values in side.items()} for name, side in answers.items()}


def tasks(args: argparse.Namespace) -> list[tuple[str, str, dict, int, bool]]:
    """(label, worker op, its arguments, calls per round, fused) for each measurement of one model."""
    sys.path.insert(0, str(ROOT))
    from utils.hyp import load_hyp

    inference = [(f"inference {size}", "infer", {"imgsz": size}, args.runs, True) for size in args.imgsz]
    train = {"batch": args.train_batch, "imgsz": args.train_imgsz, "hyp": load_hyp(HYP_FILE)}
    return inference + [(f"train step b{args.train_batch} {args.train_imgsz}", "train", train, args.train_runs, False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["yolov5n", "yolov5s"])
    parser.add_argument("--imgsz", type=int, nargs="+", default=[640, 320], help="inference sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10, help="alternations per measurement")
    parser.add_argument("--runs", type=int, default=5, help="inference calls per side per round")
    parser.add_argument("--train-runs", type=int, default=2, help="training steps per side per round")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-imgsz", type=int, default=320)
    parser.add_argument("--csv", type=Path, default=ROOT / "runs" / "benchmarks" / "vs_yolov5.csv")
    parser.add_argument("--worker", choices=("ours", "theirs"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "ours":
            sys.path.insert(0, str(ROOT))  # our package, imported by the worker only
        serve(args.worker, args.threads)
        return 0
    if not THEIR_PYTHON.exists():
        print(f"error: {THEIR_PYTHON} not found; run tests/reference/install_yolov5.sh", file=sys.stderr)
        return 2
    rows = []
    sys.stdout.reconfigure(line_buffering=True)
    print(f"{args.threads} threads, batch 1 inference, {args.rounds} alternating rounds of {args.runs} runs per side\n")
    print("| model | task | ours ms | yolov5 ms | ours/yolov5 | page faults per call, ours / yolov5 |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        ours = Side("ours", Path(sys.executable), args.threads, dict(os.environ))
        theirs = Side("theirs", THEIR_PYTHON, args.threads, their_env(scratch))
        try:
            for name in args.models:
                weights = str(scratch / f"{name}.pt")
                for task, op, kwargs, runs, fused in tasks(args):
                    for side in (ours, theirs):
                        side.ask("build", name=name, weights=weights, fused=fused)
                    medians = alternate(ours, theirs, op, args.rounds, runs, **kwargs)
                    mine, yours = medians["ours"]["times"], medians["theirs"]["times"]
                    faults = medians["ours"]["faults"], medians["theirs"]["faults"]
                    rows.append({"model": name, "task": task, "ours_ms": mine * 1e3, "yolov5_ms": yours * 1e3,
                                 "ratio": mine / yours, "threads": args.threads, "ours_page_faults": faults[0],
                                 "yolov5_page_faults": faults[1]})  # fmt: skip
                    print(f"| {name} | {task} | {mine * 1e3:.1f} | {yours * 1e3:.1f} | {mine / yours:.3f} | "
                          f"{faults[0]:.0f} / {faults[1]:.0f} |", flush=True)  # fmt: skip
        finally:
            ours.close()
            theirs.close()
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as file:
        writer = csv.DictWriter(file, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nCSV: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
