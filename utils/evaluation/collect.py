"""What an evaluation collects and reports, without torch: per-image matching against the labels, the summary
(:class:`EvalResult`), pycocotools' scores and the files written to the run folder.

Both evaluation loops feed it: :func:`utils.evaluation.evaluate.evaluate` (checkpoints and every format, on torch)
and :func:`utils.deploy.evaluate.evaluate_exported` (ONNX, OpenVINO, NCNN and TFLite files, numpy only). Boxes
arrive here as numpy arrays in original-image pixels, so both give the same figures for the same detections.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.boxes import scale_boxes, xywhn_to_xyxy, xyxy_to_xywhn
from utils.evaluation.coco_ids import category_ids
from utils.evaluation.coco_ids import image_id as coco_image_id
from utils.evaluation.coco_json import coco_detections, coco_ground_truth, run_cocoeval, score_against_file
from utils.evaluation.confusion import ConfusionMatrix
from utils.evaluation.metrics import IOU_THRESHOLDS, DetectionMetrics, detection_metrics, match_predictions
from utils.evaluation.options import EvalOptions

LOGGER = logging.getLogger(__name__)
LOSS_NAMES = ("box", "obj", "cls")
PLOTTED_BATCHES = 3  # val_batch{0,1,2}_labels.jpg / _pred.jpg, as YOLOv5
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


class Collector:
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
        detections: np.ndarray,
        true_boxes: np.ndarray,
        true_classes: np.ndarray,
        path: str,
        shape: tuple[int, int],
    ) -> None:
        """One image: ``detections`` (n, 6) and ``true_boxes`` (m, 4) ``xyxy`` in original pixels."""
        correct = match_predictions(detections[:, :4], detections[:, 4], detections[:, 5], true_boxes, true_classes)
        self.correct.append(correct)
        self.scores.append(detections[:, 4])
        self.pred_classes.append(detections[:, 5])
        self.true_classes.append(true_classes)
        self.confusion.update(detections, true_boxes, true_classes)
        if self.keep_detections:
            self.detections.append((path, tuple(shape), detections))
        if self.keep_json:
            image_id = self._image_id(path)
            self.coco_images.append(
                {"id": image_id, "file_name": Path(path).name, "width": int(shape[1]), "height": int(shape[0])}
            )
            self.coco_boxes.append(true_boxes)
            self.coco_classes.append(true_classes)
            self.coco_dets.extend(coco_detections(image_id, detections, self.category_ids))

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


def shows_per_class_rows(num_classes: int) -> bool:
    """Whether the final table gets one row per class without being asked (``--verbose``), as in YOLOv5."""
    return num_classes < PER_CLASS_ROWS_BELOW


def score_json(result: EvalResult, collector: Collector, names: list[str], opt: EvalOptions) -> None:
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


def collect_image(
    collector: Collector,
    detections: np.ndarray,
    labels: np.ndarray,
    image_shape: tuple[int, int],
    shapes: tuple | None,
    path: str,
    single_cls: bool,
) -> None:
    """Map one image's detections (n, 6) and labels ``[class, xywhn]`` (of the letterboxed ``image_shape``) to
    original pixels and add them to ``collector``; ``shapes`` is the loader's ``((h0, w0), (ratio, pad))``."""
    original_shape, ratio_pad = shapes if shapes is not None else (tuple(image_shape), None)
    height, width = image_shape
    true_boxes = scale_boxes(xywhn_to_xyxy(labels[:, 1:5], width, height), image_shape, original_shape, ratio_pad)
    true_classes = np.zeros_like(labels[:, 0]) if single_cls else labels[:, 0]
    original = detections.copy()
    original[:, :4] = scale_boxes(detections[:, :4], image_shape, original_shape, ratio_pad)
    collector.add(original, true_boxes, true_classes, path, original_shape)


def collect_batch(
    collector: Collector,
    predictions: list[np.ndarray],
    targets: np.ndarray,
    image_shape: tuple[int, int],
    shapes: tuple,
    paths: tuple[str, ...],
    single_cls: bool,
) -> None:
    """:func:`collect_image` for each image of a batch: ``predictions`` (n, 6) per image after NMS, ``targets``
    (N, 6) ``[image_index, class, xywhn]`` as the loader gives them."""
    for index, detections in enumerate(predictions):
        if single_cls:
            detections[:, 5] = 0
        labels = targets[targets[:, 0] == index, 1:]
        collect_image(collector, detections, labels, image_shape, shapes[index], paths[index], single_cls)


def plot_batch(
    images, targets, predictions: list[np.ndarray], paths, names: list[str], plot_dir: Path, batch_index: int
) -> None:
    """``val_batch<i>_labels.jpg`` and ``_pred.jpg``: a batch (``images`` (B, 3, H, W) and ``targets`` as the loader
    gives them, arrays or tensors) with its labels, then with ``predictions`` ((n, 6) per image, letterbox pixels)."""
    from utils.plots.batch import plot_images

    height, width = images.shape[2:]
    rows = [
        np.concatenate((np.full_like(d[:, :1], i), d[:, 5:6], xyxy_to_xywhn(d[:, :4], width, height), d[:, 4:5]), 1)
        for i, d in enumerate(predictions)
    ]
    plot_images(images, targets, paths, names, plot_dir / f"val_batch{batch_index}_labels.jpg")
    drawn = np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)
    plot_images(images, drawn, paths, names, plot_dir / f"val_batch{batch_index}_pred.jpg")


def finish(
    result: EvalResult, collector: Collector, opt: EvalOptions, save_dir: Path | None, undecodable: int
) -> EvalResult:
    """What every loop does after its last batch: count the images that did not decode, score with pycocotools
    (``save_json``), write plots and files into ``save_dir``, log the per-class table (``verbose``)."""
    result.undecodable = undecodable
    if undecodable:
        LOGGER.warning("WARNING: %d images did not decode and were left out of the scores", undecodable)
    if opt.save_json:
        score_json(result, collector, result.names, opt)
    if save_dir is not None:
        write_outputs(result, collector, result.names, save_dir, opt)
    if opt.verbose:
        LOGGER.info("%s", result.table(per_class=True))
    return result


def summarise(
    collector: Collector,
    names: list[str],
    times: list[float],
    loss: list[float] | None,
    batches: int,
    shape: tuple[int, ...],
) -> EvalResult:
    """The :class:`EvalResult` of a finished loop: ``times`` are the summed pre-process, inference and NMS
    seconds, ``loss`` the summed loss parts (or None)."""
    correct, scores, pred_classes, true_classes = collector.arrays()
    if not len(true_classes):
        LOGGER.warning("WARNING no labels found in this split, so no metrics can be computed")
    metrics = detection_metrics(correct, scores, pred_classes, true_classes)
    images = len(collector.correct)
    speed = tuple(t * 1e3 / max(images, 1) for t in times)
    losses = {k: float(v) / max(batches, 1) for k, v in zip(LOSS_NAMES, loss)} if loss is not None else None
    return EvalResult(metrics, list(names), images, speed, losses, batch_shape=shape)


def write_outputs(result: EvalResult, collector: Collector, names: list[str], save_dir: Path, opt: EvalOptions) -> None:
    """Plots, label files and COCO JSON files into ``save_dir``, as asked; their paths go to ``result.files``."""
    if opt.plots and importlib.util.find_spec("matplotlib") is None:  # a deploy venv may leave it out
        LOGGER.warning("WARNING: no PR/F1/confusion plots: they need matplotlib (pip install matplotlib)")
    elif opt.plots:
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
