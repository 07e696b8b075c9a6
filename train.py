"""Train a YOLO detector.

python train.py --data data/shapes.yaml --cfg configs/models/yolov5n.yaml --epochs 3 --imgsz 160 --device cpu
torchrun --nproc_per_node 2 train.py ... --device 0,1      # DistributedDataParallel, one process per GPU
python train.py ... --evolve 300 --project runs/evolve      # hyperparameter evolution; add --exist-ok to continue
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from utils.absent_flags import add_absent_flags
from utils.allocator import keep_freed_memory
from utils.errors import UserError, run_reporting_user_errors
from utils.train.options import TrainOptions


def parse_options(argv: list[str] | None = None) -> TrainOptions:
    defaults = TrainOptions()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=defaults.weights, help="checkpoint to start from ('' = scratch)")
    parser.add_argument("--cfg", default=defaults.cfg, help="model YAML")
    parser.add_argument("--data", default=defaults.data, help="dataset YAML")
    parser.add_argument("--hyp", default=defaults.hyp, help="hyperparameter YAML")
    parser.add_argument("--epochs", type=int, default=None, help=f"total epochs (default {defaults.epochs})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="total batch size, all GPUs")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=defaults.imgsz, help="train/val size")
    parser.add_argument("--rect", action="store_true", help="rectangular training batches")
    parser.add_argument("--resume", nargs="?", const=True, default=False, help="resume the newest or given last.pt")
    parser.add_argument("--nosave", action="store_true", help="only save the final checkpoint")
    parser.add_argument("--noval", action="store_true", help="only validate after the final epoch")
    parser.add_argument("--noautoanchor", action="store_true", help="keep the YAML's anchors")
    parser.add_argument("--noplots", action="store_true", help="save no plot files")
    parser.add_argument("--cache", nargs="?", const="ram", default=None, choices=["ram", "disk"], help="image cache")
    parser.add_argument("--device", default=defaults.device, help="cpu, 0, 0,1 or mps")
    parser.add_argument("--multi-scale", action="store_true", help="vary the image size by +-50%%")
    parser.add_argument("--single-cls", action="store_true", help="train every class as one")
    parser.add_argument("--optimizer", choices=["SGD", "Adam", "AdamW"], default=defaults.optimizer)
    parser.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under DDP")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="dataloader workers per process")
    parser.add_argument("--project", default=defaults.project, help="runs are saved to project/name")
    parser.add_argument("--name", default=defaults.name)
    parser.add_argument("--exist-ok", action="store_true", help="reuse project/name instead of incrementing")
    parser.add_argument("--cos-lr", action="store_true", help="cosine LR schedule")
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--patience", type=int, default=defaults.patience, help="early stop after N flat epochs")
    parser.add_argument("--freeze", nargs="+", default=[], help="'backbone', N first layers, or layer indices")
    parser.add_argument("--save-period", type=int, default=defaults.save_period, help="save every N epochs")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--backbone", default="", help="replace the backbone named in --cfg (e.g. efficientnet_b3)")
    parser.add_argument("--nbs", type=int, default=defaults.nbs, help="nominal batch size for gradient accumulation")
    parser.add_argument("--evolve", type=int, nargs="?", const=300, default=None, metavar="N",
                        help="evolve the hyp for N generations (default 300); --exist-ok continues")  # fmt: skip
    add_absent_flags(parser)
    args = parser.parse_args(argv)
    if args.resume and args.evolve is not None:
        raise UserError("--evolve does not take --resume: rerun with the same --project/--name and --exist-ok")
    if args.resume:
        return resume_options(args)
    values = {k: v for k, v in vars(args).items() if k != "resume"}
    values["epochs"] = args.epochs if args.epochs is not None else defaults.epochs
    return TrainOptions(**values)


def resume_options(args: argparse.Namespace) -> TrainOptions:
    """The stored options of the run to resume; only --epochs (to extend), --device and --workers may change."""
    from utils.checkpoints.checkpoint import load_resumable_checkpoint

    path = Path(args.resume) if isinstance(args.resume, str) else newest_last_checkpoint(Path(args.project))
    checkpoint = load_resumable_checkpoint(path)
    options = TrainOptions.from_dict(checkpoint["opt"])
    options.resume = str(path)
    options.epochs = args.epochs or options.epochs
    options.device, options.workers = args.device or options.device, args.workers
    return options


def newest_last_checkpoint(project: Path) -> Path:
    candidates = sorted(Path(project).glob("**/last.pt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(f"--resume: no last.pt under {project}; pass the checkpoint path")
    return candidates[-1]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_reporting_user_errors(lambda: train(parse_options(argv)))


def train(options: TrainOptions) -> dict:
    """Run the training (or, with --evolve, the evolution); log and return the final metrics of best.pt (the best
    evolve.csv row)."""
    if options.evolve is not None:
        from utils.train.evolve import evolve

        return evolve(options, options.evolve)
    from utils.train.trainer import Trainer  # imported late: `--help` stays fast

    summary = Trainer(options).fit()
    if summary:
        logging.getLogger(__name__).info("Best: %s", ", ".join(f"{k} {v:.4f}" for k, v in summary.items()))
    return summary


if __name__ == "__main__":
    keep_freed_memory()  # for this process only (not a test calling main): a CPU training step ran up to 1.6x faster
    sys.exit(main())
