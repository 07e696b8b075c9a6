"""Evaluate an ONNX, OpenVINO, NCNN or TFLite file on a labelled split without torch: ``val.py``'s CPU path for
exported files.

The images come from :class:`~utils.data.samples.YoloSamples` (the loader the torch path wraps), predictions from
:class:`~utils.deploy.detector.NumpyDetector`, suppression from :func:`~utils.deploy.nms.suppress` with
validation's multi-label setting, and matching, metrics, plots and files from :mod:`utils.evaluation.collect`:
the same steps as :func:`utils.evaluation.evaluate.evaluate`, in numpy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from utils.data.samples import YoloSamples
from utils.deploy.detector import NumpyDetector
from utils.deploy.nms import suppress
from utils.evaluation.collect import (
    HEADER,
    PLOTTED_BATCHES,
    Collector,
    EvalResult,
    collect_batch,
    finish,
    plot_batch,
    summarise,
)
from utils.evaluation.options import EvalOptions
from utils.timing import LapClock


def evaluate_exported(
    detector: NumpyDetector, samples: YoloSamples, batch_size: int, names: list[str], opt: EvalOptions
) -> EvalResult:
    """Run ``detector`` over ``samples`` in batches of ``batch_size`` (in order: rectangular batches need it)
    and measure it as ``opt`` says (``half`` and ``augment`` are the caller's to refuse)."""
    save_dir = Path(opt.save_dir) if opt.save_dir is not None else None
    names = list(names)[:1] if opt.single_cls else list(names)
    collector = Collector(names, opt.save_json, opt.save_txt and save_dir is not None)
    plot_dir = save_dir if opt.plots else None
    times, batches, shape = np.zeros(3), 0, ()
    progress = tqdm(samples.batches(batch_size), desc=HEADER, bar_format="{l_bar}{bar:10}{r_bar}", leave=False,
                    total=math.ceil(len(samples) / batch_size))  # fmt: skip
    for batch_index, (images, targets, paths, shapes) in enumerate(progress):
        clock = LapClock("cpu")
        inputs = images.astype(np.float32) / 255
        preprocess = clock.lap()
        decoded = detector.predict(inputs)
        inference = clock.lap()
        predictions = [
            suppress(image, opt.conf_thres, opt.iou_thres, agnostic=opt.single_cls, max_det=opt.max_det,
                     multi_label=True)
            for image in decoded
        ]  # fmt: skip
        times += (preprocess, inference, clock.lap())
        batches, shape = batches + 1, shape or tuple(images.shape)
        collect_batch(collector, predictions, targets, tuple(images.shape[2:]), shapes, paths, opt.single_cls)
        if plot_dir is not None and batch_index < PLOTTED_BATCHES:
            plot_batch(images, targets, predictions, paths, names, plot_dir, batch_index)
    result = summarise(collector, names, times.tolist(), None, batches, shape)
    return finish(result, collector, opt, save_dir, samples.take_decode_failures())
