"""What keeping freed memory in the process (utils/allocator.py, which train.py turns on) does to a CPU training step.

    python benchmarks/allocator.py [--cfg configs/models/yolov5s.yaml ...] [--rounds 2] [--steps 3]

Each measurement is a child process (the setting cannot be undone inside one), the two settings alternating in every
round: untrained model in training mode, batch 16 at 320 px, forward, backward and an SGD step, two warm-up steps,
then ``--steps`` timed ones. Prints a markdown table of medians over the rounds: step time, system time and minor
page faults per step, and the child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["configs/models/yolov5s.yaml", "configs/models/yolov5s-efficientnet-lite0.yaml",
           "configs/models/yolov5s-efficientnet-lite2.yaml"]  # fmt: skip


def child(cfg: str, keep: bool, steps: int, threads: int) -> dict:
    """Per-step seconds, system seconds and minor faults over ``steps`` timed steps, and the peak RSS in MB."""
    import torch

    from models.yolo import DetectionModel
    from utils.allocator import keep_freed_memory

    if keep and not keep_freed_memory():
        raise SystemExit("this platform's malloc cannot be told to keep freed memory (Linux with glibc only)")
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = DetectionModel(cfg).for_training("cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    images = torch.rand(16, 3, 320, 320)

    def step() -> None:
        optimizer.zero_grad()
        sum(level.sum() for level in model(images)).backward()
        optimizer.step()

    for _ in range(2):
        step()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    return {"step_s": seconds / steps, "sys_s": (after.ru_stime - before.ru_stime) / steps,
            "faults": (after.ru_minflt - before.ru_minflt) / steps, "rss_mb": after.ru_maxrss / 1024}  # fmt: skip


def run_child(cfg: str, keep: bool, steps: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", cfg, "--steps", str(steps), "--threads", str(threads)]
    out = subprocess.run(command + (["--keep"] if keep else []), capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cfg", nargs="+", default=CONFIGS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere
    if args.child:
        print(json.dumps(child(args.child, args.keep, args.steps, args.threads)))
        return 0
    from utils.environment import cpu_name

    results: dict[tuple[str, bool], list[dict]] = {}
    for _ in range(args.rounds):
        for cfg in args.cfg:
            for keep in (False, True):
                results.setdefault((cfg, keep), []).append(run_child(cfg, keep, args.steps, args.threads))
    print(f"{cpu_name()}, {args.threads} threads, batch 16 at 320 px, {platform.libc_ver()[0]} "
          f"{platform.libc_ver()[1]}; medians of {args.rounds} rounds of {args.steps} steps\n")  # fmt: skip
    print("| model | step s, default / kept | ratio | system s per step | page faults per step | peak RSS MB |")
    print("|---|---|---:|---|---|---|")
    for cfg in args.cfg:
        off, on = ({key: statistics.median(r[key] for r in results[(cfg, keep)]) for key in results[(cfg, keep)][0]}
                   for keep in (False, True))  # fmt: skip
        print(f"| {Path(cfg).stem} | {off['step_s']:.2f} / {on['step_s']:.2f} | {on['step_s'] / off['step_s']:.2f}x "
              f"| {off['sys_s']:.2f} / {on['sys_s']:.2f} | {off['faults']:,.0f} / {on['faults']:,.0f} "
              f"| {off['rss_mb']:.0f} / {on['rss_mb']:.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
