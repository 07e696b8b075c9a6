"""The training engine: ``Trainer(options).fit()``.

One epoch is: warmup-aware LR and momentum, gradient accumulation up to a nominal batch of 64, AMP on CUDA,
gradient clipping, EMA; then validation of the EMA model, a results.csv row, and atomic checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from models.backbones.rows import with_backbone, without_pretrained
from models.recipe import RECIPE_KEY, read_backbone_recipe
from models.summary import model_summary
from models.yolo import DetectionModel, load_model_yaml
from utils import dist as distributed
from utils.checkpoints.checkpoint import (
    align_head_layers,
    half_state_dict,
    load_checkpoint,
    load_resumable_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    transfer_weights,
)
from utils.data.dataloader import create_dataloader
from utils.data.dataset_yaml import check_dataset
from utils.data.options import LoaderOptions
from utils.device import select_device
from utils.environment import banner
from utils.errors import UserError
from utils.evaluation.collect import shows_per_class_rows
from utils.evaluation.evaluate import evaluate
from utils.evaluation.options import EvalOptions
from utils.hyp import load_hyp
from utils.plots.batch import plot_images
from utils.plots.labels import plot_labels
from utils.run_dir import increment_path
from utils.train.autoanchor import check_anchors, label_sizes
from utils.train.ema import ModelEMA, unwrap
from utils.train.freeze import freeze_layers, keep_frozen_in_eval, layers_to_freeze
from utils.train.loss import YoloLoss
from utils.train.optim import accumulation_steps, build_optimizer, epoch_lr_factor, lr_curve, warmup
from utils.train.options import TrainOptions
from utils.train.ota_loss import OtaLoss
from utils.train.progress import EpochProgress
from utils.train.results import COLUMNS, append_row, plot_results, truncate_after

LOGGER = logging.getLogger(__name__)
MIN_WARMUP_ITERATIONS = 100
GRAD_CLIP_NORM = 10.0


class Trainer:
    """Trains a ``DetectionModel`` as described by :class:`TrainOptions` (``train.py``'s flags)."""

    def __init__(self, options: TrainOptions) -> None:
        self.opt = options
        self.start_epoch, self.best_fitness, self.best_epoch, self.resume_checkpoint = 0, 0.0, None, None
        self.tensorboard, self.epoch_lrs = None, []
        if options.resume:
            self.resume_checkpoint = load_resumable_checkpoint(options.resume)
        device = select_device(options.device)
        self.dist = distributed.init_distributed(device)
        self.device = distributed.process_device(device, self.dist)
        self.amp = self.device.type == "cuda"

    def fit(self) -> dict:
        """Run every epoch; return the final metrics of the best checkpoint (main process).

        Runs with PyTorch's deterministic algorithms (warn-only, restored afterwards): on the CPU the loss's indexed
        writes and their gradients otherwise sum in a thread-dependent order, and two runs with one seed drift apart
        from the first epoch on."""
        with deterministic_algorithms():
            return self._fit()

    def _fit(self) -> dict:
        try:
            self.setup()
            stop = False
            self.started, self.last_epoch = time.perf_counter(), self.start_epoch - 1
            for epoch in range(self.start_epoch, self.opt.epochs):
                self.last_epoch = epoch
                losses = self.train_one_epoch(epoch)
                self.epoch_lrs = [group["lr"] for group in self.optimizer.param_groups]
                if self.dist.is_main:
                    stop = self.end_epoch(epoch, losses)
                if distributed.broadcast_flag(stop, self.dist):
                    break
            if not self.dist.is_main:
                return {}
            epochs, hours = self.last_epoch + 1 - self.start_epoch, (time.perf_counter() - self.started) / 3600
            LOGGER.info("%d epochs completed in %.3f hours.", epochs, hours)
            return self.finish()
        finally:
            if getattr(self, "train_loader", None) is not None:
                self.train_loader.close()
            distributed.cleanup(self.dist)

    # --- set-up -------------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Every input is read and checked (data, hyp, model, weights, the train split) before the run folder is
        made, so a failed start leaves nothing behind."""
        self.init_seeds()
        self.data = check_dataset(self.opt.data)
        if self.dist.is_main:  # after the data check: the commonest mistake gets its error line alone
            LOGGER.info("%s", banner(self.device, self.planned_run_dir()))
        single_name = self.data["names"] if len(self.data["names"]) == 1 else ["item"]
        self.names = single_name if self.opt.single_cls else self.data["names"]  # --single-cls: every class is 0
        self.num_classes = len(self.names)
        self.hyp = load_hyp(self.opt.hyp) if not self.resume_checkpoint else dict(self.resume_checkpoint["hyp"])
        self.build_model()
        self.build_dataloaders()
        self.setup_run_dir()
        if self.dist.is_main:
            (self.save_dir / "hyp.yaml").write_text(yaml.safe_dump(self.hyp, sort_keys=False))
            self.tensorboard = _tensorboard_writer(self.save_dir)
        self.plot_dataset_labels()
        self.autoanchor()
        self.build_loss()
        self.build_optimizer()
        if self.resume_checkpoint:
            self.restore_state(self.resume_checkpoint)
        if self.dist.distributed:
            if self.opt.sync_bn:
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    def init_seeds(self) -> None:
        seed = self.opt.seed + 1 + max(self.dist.rank, 0)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def planned_run_dir(self) -> Path:
        """The run folder this run will use; nothing is made yet."""
        if self.resume_checkpoint:  # the folder holding the checkpoint, never the save_dir written inside it
            return run_folder_of(Path(self.opt.resume))
        return increment_path(Path(self.opt.project) / self.opt.name, self.opt.exist_ok)

    def setup_run_dir(self) -> None:
        self.save_dir = self.planned_run_dir()
        self.opt.save_dir = str(self.save_dir)
        if self.resume_checkpoint:
            for stale in self.save_dir.glob("weights/.*.tmp"):  # left by a save that was killed (SIGKILL)
                stale.unlink(missing_ok=True)
        self.weights_dir = self.save_dir / "weights"
        if self.dist.is_main:
            self.weights_dir.mkdir(parents=True, exist_ok=True)
            recorded = {**self.opt.to_dict(), RECIPE_KEY: self.recipe.to_dict()}  # from the model YAML
            (self.save_dir / "opt.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))

    def build_model(self) -> None:
        source = self.resume_checkpoint or (load_checkpoint(self.opt.weights) if self.opt.weights else None)
        cfg = load_model_yaml(self.opt.cfg)[0] if self.opt.cfg else (source or {}).get("model_yaml")
        if cfg is None:
            raise UserError("train.py needs --cfg (a model YAML) or --weights (a checkpoint) to build a model")
        if self.opt.backbone:
            cfg = with_backbone(cfg, self.opt.backbone, self.opt.cfg or "the checkpoint's model YAML")
        if source is not None and not self.resume_checkpoint:
            cfg = without_pretrained(cfg)  # the backbone's weights come from the checkpoint
        yaml_name = self.opt.cfg or f"the model YAML in {self.opt.resume or self.opt.weights}"
        self.model = DetectionModel(cfg, nc=self.num_classes, source=yaml_name).for_training(self.device)
        if self.dist.is_main:
            LOGGER.info("%s", model_summary(self.model, Path(self.opt.cfg or "model").stem, 640, estimate=True))
        self.model.names = self.names
        if source is not None:
            state = {k: v.float() for k, v in (source.get("ema") or source["model"]).items()}
            if source.get("model_yaml"):
                state = align_head_layers(state, source["model_yaml"], self.model.yaml)
            copied, total = transfer_weights(self.model, state)
            if self.dist.is_main and not self.resume_checkpoint:
                LOGGER.info("Transferred %d/%d items from %s", copied, total, self.opt.weights)
        self.frozen = freeze_layers(self.model, layers_to_freeze(self.model, self.opt.freeze))
        self.recipe = read_backbone_recipe(self.model.yaml, yaml_name)
        self.recipe_layers = [] if self.recipe.is_default else layers_to_freeze(self.model, ["backbone"])
        self.recipe_frozen: list[nn.Module] = []
        self.grid_size = max(int(self.model.stride.max()), 32)
        if self.opt.imgsz % self.grid_size:
            raise UserError(
                f"--imgsz {self.opt.imgsz} must be a multiple of the model's largest stride {self.grid_size}"
            )

    def build_dataloaders(self) -> None:
        """The train loader (augmented, shuffled, continuous workers) and, on the main process, the val loader
        (rectangular batches of twice the size)."""
        shared = LoaderOptions(
            self.opt.imgsz, self.opt.batch_size // self.dist.world_size, self.grid_size, cache=self.opt.cache,
            workers=self.opt.workers, single_cls=self.opt.single_cls, num_classes=len(self.data["names"]),
        )  # fmt: skip
        train = replace(shared, hyp=self.hyp, augment=True, rect=self.opt.rect, shuffle=True, seed=self.opt.seed,
                        rank=self.dist.rank, prefix="train: ", continuous=True)  # fmt: skip
        self.train_loader, self.train_dataset = create_dataloader(self.data["train"], train)
        self.val_loader = None
        if self.dist.is_main:
            val = replace(shared, batch_size=shared.batch_size * 2, rect=True, pad=0.5, prefix="val: ")
            self.val_loader, _ = create_dataloader(self.data["val"], val)

    def plot_dataset_labels(self) -> None:
        """labels.jpg: the train split's class counts and box positions and sizes (main process)."""
        if self.dist.is_main and not self.opt.noplots:
            labels = np.concatenate([lab for lab in self.train_dataset.labels if len(lab)] or [np.zeros((0, 5))])
            plot_labels(labels, self.names, self.save_dir / "labels.jpg")

    def autoanchor(self) -> None:
        """AutoAnchor on a new run: evolve the head's anchors when they fit the train boxes poorly (main process);
        every DDP rank then takes rank 0's anchors. Changes the model, hence a step of its own."""
        if self.dist.is_main and not self.opt.noautoanchor and not self.resume_checkpoint:
            dataset = self.train_dataset
            sizes = label_sizes(dataset.shapes, dataset.labels, self.opt.imgsz, np.random.default_rng(self.opt.seed))
            check_anchors(self.model.head, sizes, self.hyp["anchor_t"], seed=self.opt.seed)
        if self.dist.distributed:
            torch.distributed.broadcast(self.model.head.anchors, 0)

    def build_loss(self) -> None:
        """YOLOv5's loss, or YOLOv7's (``OtaLoss``) when the hyp file says ``loss_ota: 1``."""
        head = self.model.head
        if self.hyp.get("loss_ota", 0):
            self.loss_fn = OtaLoss.from_hyp(head.anchors, self.num_classes, self.hyp, self.opt.imgsz,
                                            self.opt.label_smoothing, strides=head.stride.tolist())  # fmt: skip
        else:
            self.loss_fn = YoloLoss.from_hyp(head.anchors, self.num_classes, self.hyp, self.opt.imgsz,
                                             self.opt.label_smoothing)  # fmt: skip

    def build_optimizer(self) -> None:
        accumulate = max(round(self.opt.nbs / self.opt.batch_size), 1)
        weight_decay = self.hyp["weight_decay"] * self.opt.batch_size * accumulate / self.opt.nbs
        backbone = nn.ModuleList(self.model.model[i] for i in self.recipe_layers) if self.recipe_layers else None
        self.optimizer = build_optimizer(
            self.model, self.opt.optimizer, self.hyp["lr0"], self.hyp["momentum"], weight_decay, backbone
        )
        self.lr_curve = lr_curve(self.opt.epochs, self.hyp["lrf"], self.opt.cos_lr)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.hyp["lr0"]
        if self.recipe_layers and self.dist.is_main:
            LOGGER.info("%s", self.recipe.describe(len(self.recipe_layers)))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = ModelEMA(self.model) if self.dist.is_main else None
        self.warmup_iterations = max(round(self.hyp["warmup_epochs"] * len(self.train_loader)), MIN_WARMUP_ITERATIONS)
        self.last_step = -1

    def restore_state(self, checkpoint: dict) -> None:
        """Continue a run: epoch, best fitness, optimizer, EMA, LR schedule (re-planned if --epochs grew)."""
        self.start_epoch = checkpoint["epoch"] + 1
        self.best_fitness = checkpoint.get("best_fitness", 0.0)
        self.best_epoch = checkpoint.get("best_epoch", checkpoint["epoch"])
        if checkpoint.get("optimizer"):
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        elif self.dist.is_main:
            LOGGER.info(
                "%s has no optimizer state (a finished run): continuing with a fresh optimizer", self.opt.resume
            )
        if self.ema and checkpoint.get("ema"):
            self.ema.ema.load_state_dict({k: v.float() for k, v in checkpoint["ema"].items()})
            self.ema.updates = checkpoint.get("updates", 0)
        if self.dist.is_main:
            truncate_after(self.save_dir / "results.csv", checkpoint["epoch"])
            LOGGER.info("Resuming %s from epoch %d to %d", self.save_dir, self.start_epoch, self.opt.epochs)
        if self.start_epoch >= self.opt.epochs:
            raise UserError(
                f"{self.opt.resume}: the run already finished {self.opt.epochs} epochs; pass "
                "--epochs N with a larger N to train it further"
            )

    # --- one epoch ----------------------------------------------------------------------------------------
    def train_one_epoch(self, epoch: int) -> np.ndarray:
        """Train one epoch; return the mean (box, obj, cls) losses (zeros on DDP ranks other than the main one)."""
        self.apply_backbone_recipe(epoch)
        self.model.train()
        keep_frozen_in_eval(self.frozen + self.recipe_frozen)
        if self.dist.distributed:  # read once, when the loader's stream starts; it numbers later passes itself
            self.train_loader.sampler.set_epoch(epoch)
        for group in self.optimizer.param_groups:  # warmup overrides it during its iterations
            group["lr"] = group["initial_lr"] * epoch_lr_factor(self.lr_curve, epoch)
        self.optimizer.zero_grad()
        progress = EpochProgress(self.train_loader, epoch, self.opt.epochs, self.device, enabled=self.dist.is_main)
        for index, (images, targets, paths, _) in progress:
            images = self.maybe_rescale(images.to(self.device, non_blocking=True).float() / 255)
            targets = targets.to(self.device)
            parts = self.train_step(images, targets, epoch, index)
            progress.update(parts, targets, images)
            self.plot_batch(epoch, index, images, targets, paths)
        undecodable = self.train_dataset.take_decode_failures()
        if undecodable and self.dist.is_main:
            LOGGER.warning("WARNING: %d training images did not decode this epoch; each was replaced by another",
                           undecodable)  # fmt: skip
        return progress.mean_losses

    def apply_backbone_recipe(self, epoch: int) -> None:
        """Set the backbone groups' LR for ``epoch`` (``lr0 x lr_multiplier``, 0 while frozen) and freeze or
        unfreeze the backbone. Derived from the epoch alone, so a resumed run lands in the same state.

        Frozen means no gradients and BatchNorm statistics kept; under DDP the gradients still flow (DDP fixes the
        set of trained parameters when it wraps the model) but the LR of 0 leaves the weights unchanged."""
        if not self.recipe_layers:
            return
        frozen = self.recipe.frozen_at(epoch)
        scale = 0.0 if frozen else self.recipe.lr_multiplier
        for group in self.optimizer.param_groups:
            if group.get("backbone"):
                group["lr_scale"], group["initial_lr"] = scale, self.hyp["lr0"] * scale
        user_frozen = {id(layer) for layer in self.frozen}
        layers = [unwrap(self.model).model[i] for i in self.recipe_layers]
        layers = [layer for layer in layers if id(layer) not in user_frozen]  # --freeze keeps its own
        if not self.dist.distributed:
            for layer in layers:
                layer.requires_grad_(not frozen)
        if epoch == self.recipe.frozen_epochs > 0 and self.dist.is_main:
            LOGGER.info("Epoch %d: the backbone is unfrozen (backbone_recipe.frozen_epochs)", epoch)
        self.recipe_frozen = layers if frozen else []

    def train_step(self, images: torch.Tensor, targets: torch.Tensor, epoch: int, index: int) -> dict:
        """One batch: warmup, forward and loss (autocast on CUDA), a stop on a non-finite loss, backward, and an
        optimizer step once enough batches have accumulated. ``images`` (B, 3, H, W) float 0..1 on the device,
        ``targets`` (N, 6) ``[image, class, xywhn]``. Returns the loss parts ``{"box", "obj", "cls"}``."""
        iteration = index + len(self.train_loader) * epoch
        accumulate = self.warm_up(iteration, epoch)
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            loss, parts = self.loss_fn(self.model(images), targets)
        if not torch.isfinite(loss):
            raise UserError(
                f"training loss became {loss.item()} at epoch {epoch}, batch {index}; lower lr0 in "
                f"{self.opt.hyp} or check the labels"
            )
        self.scaler.scale(loss * self.dist.world_size).backward()
        if iteration - self.last_step >= accumulate:
            self.optimizer_step()
            self.last_step = iteration
        return parts

    def plot_batch(self, epoch: int, index: int, images: torch.Tensor, targets: torch.Tensor, paths: list) -> None:
        """train_batch0..2.jpg: the first three batches of the run's first epoch, as the model saw them."""
        if self.dist.is_main and epoch == self.start_epoch and index < 3 and not self.opt.noplots:
            plot_images(images, targets, paths, self.names, self.save_dir / f"train_batch{index}.jpg")

    def warm_up(self, iteration: int, epoch: int) -> int:
        """Apply warmup LRs/momentum during the first iterations; return the accumulation steps to use."""
        if iteration <= self.warmup_iterations:
            warmup(self.optimizer, iteration, self.warmup_iterations, self.lr_curve(epoch), self.hyp)
        return accumulation_steps(iteration, self.warmup_iterations, self.opt.batch_size, self.opt.nbs)

    def maybe_rescale(self, images: torch.Tensor) -> torch.Tensor:
        """--multi-scale: resize the batch to a random multiple of the stride within 0.5x..1.5x imgsz."""
        if not self.opt.multi_scale:
            return images
        low, high = int(self.opt.imgsz * 0.5), int(self.opt.imgsz * 1.5 + self.grid_size)
        size = random.randrange(low, high) // self.grid_size * self.grid_size
        factor = size / max(images.shape[2:])
        if factor == 1:
            return images
        shape = [math.ceil(x * factor / self.grid_size) * self.grid_size for x in images.shape[2:]]
        return nn.functional.interpolate(images, size=shape, mode="bilinear", align_corners=False)

    def optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=GRAD_CLIP_NORM)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad()
        if self.ema:
            self.ema.update(self.model)

    # --- end of epoch (main process) ----------------------------------------------------------------------
    def end_epoch(self, epoch: int, losses: np.ndarray) -> bool:
        """Validate, log, checkpoint; return whether to stop early."""
        final = epoch + 1 == self.opt.epochs
        metrics, val_losses = self.validate(plots=False) if not self.opt.noval or final else (None, np.zeros(3))
        fitness = metrics.fitness() if metrics else 0.0
        row = [epoch, *losses]
        row += [metrics.mean_precision, metrics.mean_recall, metrics.map50, metrics.map] if metrics else [0.0] * 4
        row += [*val_losses, *self.epoch_lrs[:3]]  # YOLOv5's three groups; a recipe's backbone groups follow
        append_row(self.save_dir / "results.csv", row)
        self.log_tensorboard(epoch, row)
        if fitness > self.best_fitness or self.best_epoch is None:
            self.best_fitness, self.best_epoch = max(fitness, self.best_fitness), epoch
        if not self.opt.nosave or final:
            self.save_checkpoint(epoch, best=self.best_epoch == epoch)
        stop = not self.opt.noval and epoch - self.best_epoch >= self.opt.patience  # --noval has no fitness to watch
        if stop:
            LOGGER.info(
                "Stopping early: no improvement in the last %d epochs; best was epoch %d",
                self.opt.patience,
                self.best_epoch,
            )
        return stop

    def log_tensorboard(self, epoch: int, row: list[float]) -> None:
        if self.tensorboard is not None:
            for name, value in zip(COLUMNS[1:], row[1:]):
                self.tensorboard.add_scalar(name, value, epoch)

    def validate(self, plots: bool, model: nn.Module | None = None, per_class: bool = False):
        options = EvalOptions(save_dir=self.save_dir, plots=plots and not self.opt.noplots)
        result = evaluate(model or self.ema.ema, self.val_loader, self.names, options, self.loss_fn, self.device)
        LOGGER.info("%s", result.table(per_class=per_class))  # YOLOv5 prints the "all" row after every epoch
        val_losses = (
            np.array([float(result.loss.get(k, 0.0)) for k in ("box", "obj", "cls")]) if result.loss else np.zeros(3)
        )
        return result.metrics, val_losses

    def save_checkpoint(self, epoch: int, best: bool) -> None:
        checkpoint = {
            "epoch": epoch,
            "best_fitness": self.best_fitness,
            "best_epoch": self.best_epoch,
            "model": half_state_dict(unwrap(self.model)),
            "ema": half_state_dict(self.ema.ema),
            "updates": self.ema.updates,
            "optimizer": self.optimizer.state_dict(),
            "opt": self.opt.to_dict(),
            "hyp": self.hyp,
            "names": self.names,
            "model_yaml": unwrap(self.model).yaml,
            "date": datetime.now().isoformat(),
        }
        if best:  # best.pt before last.pt: a run stopped between the two still has the best.pt that last.pt names
            save_checkpoint(checkpoint, self.weights_dir / "best.pt")
        save_checkpoint(checkpoint, self.weights_dir / "last.pt")
        if self.opt.save_period > 0 and (epoch + 1) % self.opt.save_period == 0:
            save_checkpoint(checkpoint, self.weights_dir / f"epoch{epoch}.pt")

    def finish(self) -> dict:
        """Strip optimizers from the final checkpoints, validate best.pt with plots, plot results.csv."""
        for path in (self.weights_dir / "last.pt", self.weights_dir / "best.pt"):
            if path.exists():
                checkpoint = load_checkpoint(path)
                checkpoint["optimizer"] = None
                save_checkpoint(checkpoint, path)
        summary = {}
        best, last = self.weights_dir / "best.pt", self.weights_dir / "last.pt"
        if not best.exists() and last.exists():  # a run stopped between the two saves before best.pt came first
            LOGGER.warning("WARNING: %s is missing; using %s as the best checkpoint", best, last)
            save_checkpoint(load_checkpoint(last), best)
        if best.exists() and self.val_loader is not None:
            LOGGER.info("Validating %s...", best)
            model = model_from_checkpoint(load_checkpoint(best)).to(self.device)
            metrics, _ = self.validate(plots=True, model=model, per_class=shows_per_class_rows(self.num_classes))
            summary = {
                "mAP_0.5": metrics.map50,
                "mAP_0.5:0.95": metrics.map,
                "precision": metrics.mean_precision,
                "recall": metrics.mean_recall,
            }
        if not self.opt.noplots:
            plot_results(self.save_dir / "results.csv")
        LOGGER.info("Results saved to %s", self.save_dir)
        return summary


def _tensorboard_writer(save_dir: Path):
    """A TensorBoard SummaryWriter for the run folder when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(save_dir))


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` for the block, then the previous setting back."""
    enabled, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def run_folder_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to: ``run/weights/last.pt`` -> ``run``; a checkpoint outside a ``weights``
    folder resumes into its own folder. Where the run used to be (its stored ``save_dir``) is not trusted: the folder
    may have moved, and the file may come from someone else."""
    folder = checkpoint.resolve().parent
    return folder.parent if folder.name == "weights" else folder
