"""``YoloSamples``: images and YOLO labels of one split, letterboxed or mosaicked, ready for a detector, in numpy.

torch's ``Dataset`` wraps it (:class:`utils.data.dataset.YoloDataset`); the torch-free val path
(:mod:`utils.deploy.evaluate`) reads it directly. One sample is ``(image, targets, path, shapes)``:

- ``image``: ``uint8 (3, H, W)`` RGB array.
- ``targets``: ``float32 (n, 6)`` ``[image_index, class, x, y, w, h]``, boxes ``xywhn`` (normalised to the
  returned image); ``image_index`` is 0 here and filled in by :func:`collate`.
- ``shapes``: ``((h0, w0), ((h / h0, w / w0), (padw, padh)))`` mapping the returned image back to the original,
  or None for mosaics.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from utils.boxes import xywhn_to_xyxy, xyxy_to_xywhn
from utils.data.augment import augment_hsv, flip_lr, flip_ud, mixup, mosaic4, random_perspective
from utils.data.dataset_files import SplitSource, list_images
from utils.data.label_scan import scan_labels
from utils.data.options import LoaderOptions
from utils.errors import UserError
from utils.hyp import AUGMENT_KEYS, DEFAULT_HYP, check_hyp, load_hyp
from utils.image_io import ImageReadError, load_image
from utils.letterbox import letterbox, stride_aligned

LOGGER = logging.getLogger(__name__)
MAX_REPLACEMENTS = 16  # tries before a training sample gives up: the data set has changed on disk


class YoloSamples:
    """A split given as a folder, ``.txt`` list, or list of those; labels are found with ``/images/`` -> ``/labels/``.

    ``options`` (:class:`LoaderOptions`) says how: ``augment`` turns on mosaic, mixup, perspective, HSV and flips with
    the probabilities in ``hyp``; ``rect`` serves each batch at its own stride-aligned rectangle (images sorted by
    aspect ratio, so don't shuffle); ``cache`` is None, ``"ram"`` (resized images kept in memory) or ``"disk"``
    (decoded ``.npy`` beside each image).
    """

    def __init__(self, source: SplitSource, options: LoaderOptions | None = None) -> None:
        options = options or LoaderOptions()
        if options.cache not in (None, False, "ram", "disk"):
            raise UserError(f"--cache {options.cache!r}: expected 'ram' or 'disk'")
        augment = options.augment
        self.imgsz, self.augment, self.rect, self.stride = options.imgsz, augment, options.rect, options.stride
        self.hyp = load_hyp(DEFAULT_HYP) if (augment and options.hyp is None) else (options.hyp or {})
        if augment:
            check_hyp(self.hyp, "hyp", AUGMENT_KEYS)
        self.mosaic = augment and not options.rect and self.hyp.get("mosaic", 0) > 0
        self.rng = np.random.default_rng(options.rank_seed)  # replaced per worker by the loader's worker_init_fn
        images = list_images(source)
        if not images:
            raise UserError(f"{source}: no images found")
        scan = scan_labels(images, options.num_classes, workers=options.workers, prefix=options.prefix)
        if not scan.images:
            raise UserError(f"{source}: no usable images ({scan.summary()})")
        self.im_files, self.labels, self.shapes = scan.images, scan.labels, scan.shapes  # shapes: (N, 2) h, w
        self.scan = scan
        if options.single_cls:
            self.labels = [np.concatenate([np.zeros_like(lb[:, :1]), lb[:, 1:]], 1) for lb in self.labels]
        self.batch_shapes = self._rect_shapes(options.batch_size, options.pad) if options.rect else None
        self.ims: list[np.ndarray | None] = [None] * len(self.im_files)
        self.decode_failures = multiprocessing.Value("i", 0)  # shared with the loader's worker processes
        self._warned: set[int] = set()
        cache = options.cache
        self.npy_files = [str(Path(f).with_suffix(".npy")) for f in self.im_files] if cache == "disk" else None
        if cache:
            self._fill_cache(cache, options.workers, options.prefix)

    def __len__(self) -> int:
        return len(self.im_files)

    def _rect_shapes(self, batch_size: int, pad: float) -> np.ndarray:
        """Sort by aspect ratio and give each batch the smallest stride-aligned (h, w) that fits all its images."""
        aspect = self.shapes[:, 0] / self.shapes[:, 1]  # h / w
        order = aspect.argsort()
        self.im_files = [self.im_files[i] for i in order]
        self.labels = [self.labels[i] for i in order]
        self.shapes, aspect = self.shapes[order], aspect[order]
        batch_index = np.arange(len(aspect)) // batch_size
        self.batch_index = batch_index
        shapes = []
        for b in range(batch_index[-1] + 1):
            lo, hi = aspect[batch_index == b].min(), aspect[batch_index == b].max()
            rel = (hi, 1.0) if hi < 1 else (1.0, 1 / lo) if lo > 1 else (1.0, 1.0)  # (h, w) relative to imgsz
            shapes.append([stride_aligned(r * self.imgsz + pad * self.stride, self.stride) for r in rel])
        return np.array(shapes, dtype=np.int64)

    def _fill_cache(self, cache: str, workers: int, prefix: str) -> None:
        folder = Path(self.im_files[0]).parent
        if cache == "disk" and not os.access(folder, os.W_OK):
            LOGGER.warning("%sWARNING --cache disk: %s is read-only, not caching", prefix, folder)
            self.npy_files = None
            return
        job = self._save_npy if cache == "disk" else self.load_resized
        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = list(pool.map(job, range(len(self))))
        if cache == "ram":
            self.ims = [r[0] for r in results]
            gb = sum(im.nbytes for im in self.ims) / 1e9
            LOGGER.info("%sCached %d images in RAM (%.2f GB)", prefix, len(self.ims), gb)

    def _save_npy(self, index: int) -> None:
        npy = self.npy_files[index]
        if not os.path.exists(npy):
            np.save(npy, load_image(self.im_files[index]))

    def load_resized(self, index: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Image ``index`` resized so its long side is ``imgsz``: ``(img, (h0, w0), (h, w))``."""
        if self.ims[index] is not None:
            img = self.ims[index]
            return img, tuple(self.shapes[index]), img.shape[:2]
        if self.npy_files and os.path.exists(self.npy_files[index]):
            img = np.load(self.npy_files[index])
        else:
            img = load_image(self.im_files[index])
        h0, w0 = img.shape[:2]
        ratio = self.imgsz / max(h0, w0)
        if ratio != 1:
            shrink_only = not self.augment and ratio < 1
            size = (min(self.imgsz, math.ceil(w0 * ratio)), min(self.imgsz, math.ceil(h0 * ratio)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink_only else cv2.INTER_LINEAR)
        return img, (h0, w0), img.shape[:2]

    def pixel_labels(self, index: int, width: float, height: float, padw: float = 0, padh: float = 0) -> np.ndarray:
        """Labels of image ``index`` as ``[class, x1, y1, x2, y2]`` pixels of a ``width`` x ``height`` image."""
        labels = self.labels[index].copy()
        labels[:, 1:] = xywhn_to_xyxy(labels[:, 1:], width, height, padw, padh)
        return labels

    def load_mosaic(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Mosaic of image ``index`` and 3 random others, warped to ``imgsz`` square; labels pixel ``xyxy``."""
        indices = [index, *self.rng.integers(0, len(self), 3)]
        images, labels = [], []
        for i in indices:
            img, _, (h, w) = self.load_resized(i)
            images.append(img)
            labels.append(self.pixel_labels(i, w, h))
        canvas, labels = mosaic4(images, labels, self.imgsz, self.rng)
        border = -self.imgsz // 2
        return self._perspective(canvas, labels, (border, border))

    def _perspective(self, img: np.ndarray, labels: np.ndarray, border=(0, 0)) -> tuple[np.ndarray, np.ndarray]:
        h = self.hyp
        return random_perspective(
            img,
            labels,
            h["degrees"],
            h["translate"],
            h["scale"],
            h["shear"],
            h["perspective"],
            border=border,
            rng=self.rng,
        )

    def __getitem__(self, index: int):
        """One sample; an image that passed the scan but does not decode now (changed on disk, truncated) is
        counted (:meth:`take_decode_failures`) and, in training, replaced by another image so the batch keeps its
        size; in evaluation it is left out (None, which :meth:`collate` drops) so no image is scored twice."""
        for _ in range(MAX_REPLACEMENTS):
            try:
                return self._sample(index)
            except (ImageReadError, OSError) as error:
                self._count_decode_failure(index, error)
            if not self.augment:
                return None
            index = int(self.rng.integers(0, len(self)))
        raise UserError(
            f"{self.im_files[index]} and {MAX_REPLACEMENTS - 1} other images in a row do not decode: the dataset "
            "changed since it was scanned; delete the .cache files beside its labels"
        )

    def _count_decode_failure(self, index: int, error: Exception) -> None:
        with self.decode_failures.get_lock():
            self.decode_failures.value += 1
        if index not in self._warned:  # once per image and process (each loader worker has its own set)
            self._warned.add(index)
            LOGGER.warning("WARNING: %s (skipped)", str(error).splitlines()[0] if str(error) else type(error).__name__)

    def take_decode_failures(self) -> int:
        """How many samples failed to decode since the last call (in every loader worker), and reset the count."""
        with self.decode_failures.get_lock():
            count, self.decode_failures.value = self.decode_failures.value, 0
        return count

    def _sample(self, index: int):
        shapes = None
        if self.mosaic and self.rng.random() < self.hyp["mosaic"]:
            img, labels = self.load_mosaic(index)
            if self.rng.random() < self.hyp["mixup"]:
                img, labels = mixup(img, labels, *self.load_mosaic(int(self.rng.integers(0, len(self)))), self.rng)
        else:
            img, (h0, w0), (h, w) = self.load_resized(index)
            shape = tuple(self.batch_shapes[self.batch_index[index]]) if self.rect else self.imgsz
            img, ratio, (padw, padh) = letterbox(img, shape, auto=False, scaleup=self.augment)
            shapes = ((h0, w0), ((h * ratio[1] / h0, w * ratio[0] / w0), (padw, padh)))
            labels = self.pixel_labels(index, ratio[0] * w, ratio[1] * h, padw, padh)
            if self.augment:
                img, labels = self._perspective(img, labels)
        labels = labels.astype(np.float32)
        labels[:, 1:] = xyxy_to_xywhn(labels[:, 1:], img.shape[1], img.shape[0], clip=True)
        if self.augment:
            img = augment_hsv(img, self.hyp["hsv_h"], self.hyp["hsv_s"], self.hyp["hsv_v"], self.rng)
            if self.rng.random() < self.hyp["flipud"]:
                img, labels = flip_ud(img, labels)
            if self.rng.random() < self.hyp["fliplr"]:
                img, labels = flip_lr(img, labels)
        targets = np.zeros((len(labels), 6), np.float32)
        targets[:, 1:] = labels
        image = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))  # BGR HWC -> RGB CHW
        return image, targets, self.im_files[index], shapes

    def batches(self, batch_size: int) -> Iterator[tuple]:
        """Batches in order, as :func:`collate_arrays` makes them (the torch-free loop's loader)."""
        for start in range(0, len(self), batch_size):
            samples = [self[index] for index in range(start, min(start + batch_size, len(self)))]
            if any(sample is not None for sample in samples):
                yield collate_arrays(samples)


def collate_arrays(batch: list, stack: Callable = np.stack, concatenate: Callable = np.concatenate) -> tuple:
    """Stack images to ``(B, 3, H, W)`` and concatenate targets to ``(N, 6)`` with column 0 = image index;
    samples that are None (left out, see :meth:`YoloSamples.__getitem__`) are dropped. ``stack`` and
    ``concatenate`` are numpy's, or torch's for tensors (:meth:`utils.data.dataset.YoloDataset.collate`)."""
    images, targets, paths, shapes = zip(*[sample for sample in batch if sample is not None], strict=True)
    for i, t in enumerate(targets):
        t[:, 0] = i
    return stack(images, 0), concatenate(targets, 0), paths, shapes
