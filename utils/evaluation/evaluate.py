"""Evaluate a detector on a labelled split: the one loop behind ``val.py`` and the trainer's per-epoch validation.

Predictions are mapped back to each image's original pixels (undoing the letterbox) and matched there against the
labels, so the numbers do not depend on the evaluation image size's padding. mAP is computed as COCO does
(:mod:`utils.evaluation.metrics`); ``save_json`` also runs pycocotools' COCOeval on the same detections, written
with COCO's image and category ids: against COCO's own annotation file when ``coco_annotations`` names one, else
against the ground truth built from the labels as a cross-check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from utils.boxes import scale_boxes, xywhn_to_xyxy, xyxy_to_xywhn
from utils.errors import UserError
from utils.evaluation.coco_ids import category_ids
from utils.evaluation.coco_ids import image_id as coco_image_id
from utils.evaluation.coco_json import coco_detections, coco_ground_truth, run_cocoeval, score_against_file
from utils.evaluation.confusion import ConfusionMatrix
from utils.evaluation.metrics import IOU_THRESHOLDS, DetectionMetrics, detection_metrics, match_predictions
from utils.evaluation.options import EvalOptions
from utils.inference.tta import augmented_forward
from utils.nms import non_max_suppression
from utils.timing import LapClock

LOGGER = logging.getLogger(__name__)
LOSS_NAMES = ("box", "obj", "cls")
PLOTTED_BATCHES = 3
PER_CLASS_ROWS_BELOW = 50  # YOLOv5 prints one row per class by default when a dataset has fewer classes than this
HEADER = f"{'Class':>22}" + "".join(f"{h:>11}" for h in ("Images", "Instances", "P", "R", "mAP50", "mAP50-95"))


@dataclass
class EvalResult:
    """What :func:`evaluate` measured.

    ``speed``: milliseconds per image for pre-processing, inference and NMS. ``loss``: mean per batch of each
    part of ``compute_loss`` (None without it). ``coco_map``/``coco_map50``: pycocotools' figures (``save_json``),
    scored against ``coco_truth`` (COCO's annotation file) or, when that is None, the labels (``ground_truth.json``).
    ``batch_shape``: (B, 3, H, W) of the first batch, for the speed line. ``undecodable``: images of the split that
    passed the label scan but did not decode now, left out of every figure.
    """

    metrics: DetectionMetrics
    names: list[str]
    images: int
    speed: tuple[float, float, float]
    loss: dict[str, float] | None = None
    coco_map: float | None = None
    coco_map50: float | None = None
    coco_truth: Path | None = None
    batch_shape: tuple[int, ...] = ()
    files: list[Path] = field(default_factory=list)
    undecodable: int = 0

    @property
    def map(self) -> float:
        return self.metrics.map

    @property
    def map50(self) -> float:
        return self.metrics.map50

    def fitness(self) -> float:
        """0.1 mAP@0.5 + 0.9 mAP@0.5:0.95, the score that picks ``best.pt``."""
        return self.metrics.fitness()

    def class_maps(self, num_classes: int) -> np.ndarray:
        """(num_classes,) mAP@0.5:0.95 per class; classes without ground truth get the overall mAP."""
        maps = np.full(num_classes, self.metrics.map)
        maps[self.metrics.classes] = self.metrics.ap.mean(1)
        return maps

    def table(self, per_class: bool = False) -> str:
        """YOLOv5's table: header, the ``all`` row, then one row per class with ground truth if ``per_class``."""
        m = self.metrics
        rows = [
            HEADER,
            _row("all", self.images, int(m.instances.sum()), m.mean_precision, m.mean_recall, m.map50, m.map),
        ]
        if per_class and len(self.names) > 1:
            for i, c in enumerate(m.classes):
                name = self.names[c] if c < len(self.names) else str(c)
                rows.append(
                    _row(
                        name, self.images, int(m.instances[i]), m.precision[i], m.recall[i], m.ap[i, 0], m.ap[i].mean()
                    )
                )
        return "\n".join(rows)

    def speed_line(self) -> str:
        pre, inference, nms = self.speed
        return (
            f"Speed: {pre:.1f}ms pre-process, {inference:.1f}ms inference, {nms:.1f}ms NMS per image at shape "
            f"{tuple(self.batch_shape)}"
        )


def _row(name: str, images: int, instances: int, precision: float, recall: float, map50: float, map_: float) -> str:
    return f"{name:>22}{images:>11}{instances:>11}" + "".join(f"{v:>11.3g}" for v in (precision, recall, map50, map_))


class _Collector:
    """Per-prediction matches and per-image ground truth over a whole split, plus the optional side outputs."""

    def __init__(self, names: list[str], keep_json: bool, keep_detections: bool) -> None:
        self.correct, self.scores, self.pred_classes, self.true_classes = [], [], [], []
        self.confusion = ConfusionMatrix(len(names))
        self.keep_json, self.keep_detections = keep_json, keep_detections
        self.category_ids, self.image_ids, self.repeated_stems = category_ids(names), {}, 0
        self.detections: list[tuple[str, tuple[int, int], np.ndarray]] = []  # (path, (h0, w0), (n, 6)) for save_txt
        self.coco_images, self.coco_boxes, self.coco_classes, self.coco_dets = [], [], [], []

    def add(
        self,
        detections: torch.Tensor,
        true_boxes: torch.Tensor,
        true_classes: torch.Tensor,
        path: str,
        shape: tuple[int, int],
    ) -> None:
        """One image: ``detections`` (n, 6) and ``true_boxes`` (m, 4) ``xyxy`` in original pixels."""
        correct = match_predictions(detections[:, :4], detections[:, 4], detections[:, 5], true_boxes, true_classes)
        self.correct.append(correct)
        self.scores.append(detections[:, 4].cpu().numpy())
        self.pred_classes.append(detections[:, 5].cpu().numpy())
        self.true_classes.append(true_classes.cpu().numpy())
        self.confusion.update(detections, true_boxes, true_classes)
        if self.keep_detections:
            self.detections.append((path, tuple(shape), detections.cpu().numpy()))
        if self.keep_json:
            image_id = self._image_id(path)
            self.coco_images.append(
                {"id": image_id, "file_name": Path(path).name, "width": int(shape[1]), "height": int(shape[0])}
            )
            self.coco_boxes.append(true_boxes.cpu().numpy())
            self.coco_classes.append(true_classes.cpu().numpy())
            self.coco_dets.extend(coco_detections(image_id, detections.cpu().numpy(), self.category_ids))

    def _image_id(self, path: str) -> int | str:
        """COCO's id for ``path`` (its stem, as an int when numeric); a stem already used by another image of the
        split (two folders) gets ``~2``, ``~3``, ... so each image keeps its own ground truth."""
        image_id, k = coco_image_id(path), 1
        while image_id in self.image_ids:
            k += 1
            image_id = f"{Path(path).stem}~{k}"
        self.repeated_stems += k > 1
        self.image_ids[image_id] = path
        return image_id

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(correct (n, T), scores (n,), pred_classes (n,), true_classes (m,)) over every image."""
        if not self.correct:
            return np.zeros((0, len(IOU_THRESHOLDS)), bool), np.zeros(0), np.zeros(0), np.zeros(0)
        return tuple(np.concatenate(x) for x in (self.correct, self.scores, self.pred_classes, self.true_classes))

    def coco_ground_truth(self, names: list[str]) -> dict:
        return coco_ground_truth(self.coco_images, self.coco_boxes, self.coco_classes, names)


def evaluate(
    model: nn.Module,
    dataloader: Iterable,
    names: list[str],
    options: EvalOptions | None = None,
    compute_loss: Callable | None = None,
    device: str | torch.device | None = None,
) -> EvalResult:
    """Run ``model`` over ``dataloader`` and measure it, as ``options`` (:class:`EvalOptions`) says.

    Args:
        model: a detector whose eval-mode call on (B, 3, H, W) RGB 0..1 images returns ``(decoded, raw)``:
            decoded (B, N, 5 + nc) ``xywh`` pixels + objectness + class probabilities. It is left on its device,
            in its dtype and in its train/eval mode as found.
        dataloader: batches ``(images uint8 (B, 3, H, W), targets (N, 6) [image_index, class, xywhn], paths,
            shapes)`` as from :func:`utils.data.dataloader.create_dataloader` (validation: ``rect=True, pad=0.5``).
        names: class names, index = class id.
        compute_loss: ``compute_loss(raw, targets) -> (total, {"box", "obj", "cls"})``; averaged per batch.
        device: where the images go (default: the model's parameters' device).
    """
    opt = options or EvalOptions()
    device = torch.device(device) if device is not None else _parameter_like(model).device
    if opt.half and device.type != "cuda":
        raise UserError(f"--half needs a CUDA device, got {device}; drop --half")
    if opt.augment and compute_loss is not None:
        raise ValueError("compute_loss needs the plain forward pass; evaluate without augment")
    save_dir = Path(opt.save_dir) if opt.save_dir is not None else None
    names = list(names)[:1] if opt.single_cls else list(names)
    collector = _Collector(names, opt.save_json, opt.save_txt and save_dir is not None)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=opt.half):
            times, loss, batches, shape = _run_batches(
                model, dataloader, names, device, collector, opt, compute_loss, save_dir if opt.plots else None
            )
    finally:
        model.train(was_training)
    result = _summarise(collector, names, times, loss, batches, shape)
    take_failures = getattr(getattr(dataloader, "dataset", None), "take_decode_failures", None)
    result.undecodable = take_failures() if take_failures else 0
    if result.undecodable:
        LOGGER.warning("WARNING: %d images did not decode and were left out of the scores", result.undecodable)
    if opt.save_json:
        _score_json(result, collector, names, opt)
    if save_dir is not None:
        _write_outputs(result, collector, names, save_dir, opt)
    if opt.verbose:
        LOGGER.info("%s", result.table(per_class=True))
    return result


def shows_per_class_rows(num_classes: int) -> bool:
    """Whether the final table gets one row per class without being asked (``--verbose``), as in YOLOv5."""
    return num_classes < PER_CLASS_ROWS_BELOW


def _score_json(result: EvalResult, collector: _Collector, names: list[str], opt: EvalOptions) -> None:
    """pycocotools' figures into ``result``: against ``opt.coco_annotations`` when it has the evaluated images,
    else against the ground truth built from the labels."""
    if collector.repeated_stems:
        LOGGER.warning("WARNING: %d images share a file stem with another image; their image_id in the COCO JSON is "
                       "'<stem>~2', '<stem>~3', ...", collector.repeated_stems)  # fmt: skip
    scores = None
    if opt.coco_annotations is not None:
        annotations = Path(opt.coco_annotations)
        scores = score_against_file(annotations, collector.coco_dets, list(collector.image_ids), opt.max_det)
        result.coco_truth = annotations if scores is not None else None
    if scores is None:
        scores = run_cocoeval(collector.coco_ground_truth(names), collector.coco_dets, opt.max_det)
    result.coco_map, result.coco_map50 = scores


def _run_batches(model, dataloader, names, device, collector, settings, compute_loss, plot_dir):
    """The inference loop: returns (seconds [pre, inference, nms], summed loss parts or None, batch count, shape)."""
    dtype = _parameter_like(model).dtype
    times, loss, batches, shape = [0.0, 0.0, 0.0], None, 0, ()
    progress = tqdm(dataloader, desc=HEADER, bar_format="{l_bar}{bar:10}{r_bar}", leave=False)
    for batch_index, (images, targets, paths, shapes) in enumerate(progress):
        clock = LapClock(device)
        images = images.to(device, non_blocking=True).to(dtype) / 255
        targets = targets.to(device)
        preprocess = clock.lap()
        if settings.augment:
            decoded = augmented_forward(model, images)
        else:
            decoded, raw = model(images)
        inference = clock.lap()
        if compute_loss is not None:
            parts = compute_loss(raw, targets)[1]
            part = torch.stack([torch.as_tensor(parts[k], device=device).float().reshape(()) for k in LOSS_NAMES])
            loss = part if loss is None else loss + part
        predictions = non_max_suppression(
            decoded.float(),
            settings.conf_thres,
            settings.iou_thres,
            agnostic=settings.single_cls,
            multi_label=True,
            max_det=settings.max_det,
        )
        times = [times[0] + preprocess, times[1] + inference, times[2] + clock.lap()]
        batches, shape = batches + 1, shape or tuple(images.shape)
        for si, detections in enumerate(predictions):
            if settings.single_cls:
                detections[:, 5] = 0
            _collect_image(
                collector,
                detections,
                targets[targets[:, 0] == si, 1:],
                images.shape[2:],
                shapes[si],
                paths[si],
                settings.single_cls,
            )
        if plot_dir is not None and batch_index < PLOTTED_BATCHES:
            _plot_batch(images, targets, predictions, paths, names, plot_dir, batch_index)
    return times, loss, batches, shape


def _parameter_like(model: torch.nn.Module) -> torch.Tensor:
    """A tensor on the model's device in its input dtype: its first parameter; float32 on CPU for a model without
    parameters (an exported format, which casts its input itself)."""
    return next(model.parameters(), torch.empty(0))


def _collect_image(collector, detections, labels, image_shape, shapes, path, single_cls) -> None:
    """Map one image's detections and labels (``[class, xywhn]`` of the letterboxed image) to original pixels."""
    original_shape, ratio_pad = shapes if shapes is not None else (tuple(image_shape), None)
    height, width = image_shape
    true_boxes = scale_boxes(xywhn_to_xyxy(labels[:, 1:5], width, height), image_shape, original_shape, ratio_pad)
    true_classes = torch.zeros_like(labels[:, 0]) if single_cls else labels[:, 0]
    original = detections.clone()
    original[:, :4] = scale_boxes(detections[:, :4], image_shape, original_shape, ratio_pad)
    collector.add(original, true_boxes, true_classes, path, original_shape)


def _plot_batch(images, targets, predictions, paths, names, plot_dir: Path, batch_index: int) -> None:
    from utils.plots.batch import plot_images

    height, width = images.shape[2:]
    rows = [
        torch.cat((torch.full_like(d[:, :1], i), d[:, 5:6], xyxy_to_xywhn(d[:, :4], width, height), d[:, 4:5]), 1)
        for i, d in enumerate(predictions)
    ]
    plot_images(images, targets, paths, names, plot_dir / f"val_batch{batch_index}_labels.jpg")
    plot_images(
        images,
        torch.cat(rows) if rows else torch.zeros((0, 7)),
        paths,
        names,
        plot_dir / f"val_batch{batch_index}_pred.jpg",
    )


def _summarise(collector: _Collector, names, times, loss, batches, shape) -> EvalResult:
    correct, scores, pred_classes, true_classes = collector.arrays()
    if not len(true_classes):
        LOGGER.warning("WARNING no labels found in this split, so no metrics can be computed")
    metrics = detection_metrics(correct, scores, pred_classes, true_classes)
    images = len(collector.correct)
    speed = tuple(t * 1e3 / max(images, 1) for t in times)
    losses = {k: float(v) / max(batches, 1) for k, v in zip(LOSS_NAMES, loss.cpu())} if loss is not None else None
    return EvalResult(metrics, list(names), images, speed, losses, batch_shape=shape)


def _write_outputs(result: EvalResult, collector: _Collector, names, save_dir: Path, opt: EvalOptions) -> None:
    """Plots, label files and COCO JSON files into ``save_dir``, as asked; their paths go to ``result.files``."""
    if opt.plots:
        from utils.evaluation.metric_curves import metric_curves
        from utils.evaluation.plots import plot_evaluation

        correct, scores, pred_classes, true_classes = collector.arrays()
        curves = metric_curves(correct[:, 0], scores, pred_classes, true_classes)
        result.files += plot_evaluation(curves, collector.confusion, names, save_dir)
    if opt.save_txt:
        result.files += _write_label_files(collector.detections, save_dir / "labels", opt.save_conf)
    if opt.save_json:  # ground_truth.json only when it is what pycocotools scored against
        save_dir.mkdir(parents=True, exist_ok=True)
        outputs = [("predictions.json", collector.coco_dets)]
        if result.coco_truth is None:
            outputs.append(("ground_truth.json", collector.coco_ground_truth(names)))
        for name, data in outputs:
            (save_dir / name).write_text(json.dumps(data))
            result.files.append(save_dir / name)


def _write_label_files(detections, folder: Path, save_conf: bool) -> list[Path]:
    """One ``<image stem>.txt`` per image with detections: ``class x y w h [conf]``, normalised to the original."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path, (height, width), dets in detections:
        if not len(dets):
            continue
        xywhn = xyxy_to_xywhn(dets[:, :4], width, height)
        columns = [dets[:, 5:6], xywhn] + ([dets[:, 4:5]] if save_conf else [])
        rows = np.concatenate(columns, 1)
        out = folder / f"{Path(path).stem}.txt"
        out.write_text("".join(f"{int(r[0])} " + " ".join(f"{v:.6g}" for v in r[1:]) + "\n" for r in rows))
        written.append(out)
    return written
