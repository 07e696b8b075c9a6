"""Evaluate a detector on a labelled split with torch: the loop behind ``val.py`` for checkpoints (and exported
files on a GPU) and the trainer's per-epoch validation.

Predictions are mapped back to each image's original pixels (undoing the letterbox) and matched there against the
labels, so the numbers do not depend on the evaluation image size's padding. mAP is computed as COCO does
(:mod:`utils.evaluation.metrics`); ``save_json`` also runs pycocotools' COCOeval on the same detections, written
with COCO's image and category ids: against COCO's own annotation file when ``coco_annotations`` names one, else
against the ground truth built from the labels as a cross-check. What is collected and written is shared with the
torch-free loop (:mod:`utils.evaluation.collect`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from utils.errors import UserError
from utils.evaluation.collect import (
    HEADER,
    LOSS_NAMES,
    PLOTTED_BATCHES,
    Collector,
    EvalResult,
    collect_batch,
    finish,
    plot_batch,
    summarise,
)
from utils.evaluation.options import EvalOptions
from utils.inference.tta import augmented_forward
from utils.nms import non_max_suppression
from utils.timing import LapClock


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
    collector = Collector(names, opt.save_json, opt.save_txt and save_dir is not None)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=opt.half):
            times, loss, batches, shape = _run_batches(
                model, dataloader, names, device, collector, opt, compute_loss, save_dir if opt.plots else None
            )
    finally:
        model.train(was_training)
    result = summarise(collector, names, times, loss.tolist() if loss is not None else None, batches, shape)
    take_failures = getattr(getattr(dataloader, "dataset", None), "take_decode_failures", None)
    return finish(result, collector, opt, save_dir, take_failures() if take_failures else 0)


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
        predictions = [detections.cpu().numpy() for detections in predictions]
        image_shape = tuple(images.shape[2:])
        collect_batch(collector, predictions, targets.cpu().numpy(), image_shape, shapes, paths, settings.single_cls)
        if plot_dir is not None and batch_index < PLOTTED_BATCHES:
            plot_batch(images, targets, predictions, paths, names, plot_dir, batch_index)
    return times, loss, batches, shape


def _parameter_like(model: torch.nn.Module) -> torch.Tensor:
    """A tensor on the model's device in its input dtype: its first parameter; float32 on CPU for a model without
    parameters (an exported format, which casts its input itself)."""
    return next(model.parameters(), torch.empty(0))
