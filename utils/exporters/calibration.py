"""Calibration images for INT8 export: train-split images through the loader and letterbox validation uses."""

from __future__ import annotations

import logging

import numpy as np

from utils.errors import UserError

LOGGER = logging.getLogger(__name__)

DEFAULT_CALIBRATION_IMAGES = 300  # what NNCF's post-training quantization samples by default (subset_size)


def calibration_batches(data_yaml: str, imgsz: tuple[int, int], stride: int, count: int) -> list[np.ndarray]:
    """``count`` images (fewer if the split is smaller) of the dataset's ``train`` split, evenly spaced over it,
    each a ``(1, 3, H, W)`` float32 RGB array in 0..1, letterboxed without augmentation as ``val.py`` loads them.

    The train split, not val: the quantization ranges must not be fitted on the images that score the result.
    """
    from utils.data.dataset_yaml import check_dataset
    from utils.data.options import LoaderOptions
    from utils.data.samples import YoloSamples

    height, width = imgsz
    if height != width:
        raise UserError(f"--int8 calibrates at a square size, got --imgsz {height} {width}; export with one --imgsz")
    if count < 1:
        raise UserError(f"--int8-images {count}: must be at least 1")
    data = check_dataset(data_yaml)
    dataset = YoloSamples(data["train"], LoaderOptions(height, 1, stride, workers=2, prefix="calibration: "))
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int))
    batches = []
    for index in picks:
        sample = dataset[int(index)]
        if sample is not None:  # an image that no longer decodes is counted by the dataset and left out
            batches.append(sample[0][None].astype(np.float32) / 255)
    if not batches:
        raise UserError(f"{data['yaml_file']}: no train image decodes, nothing to calibrate --int8 on")
    LOGGER.info("calibration: %d train images of %s at %dx%d", len(batches), data["yaml_file"], height, width)
    return batches
