"""``Detections``: what the Python API returns for a batch of images, with the attributes and methods of YOLOv5's.

Box lists hold one float32 CPU tensor per image, shape (n, 6), columns box (4), confidence, class index, highest
confidence first:

- ``xyxy`` (= ``pred``): corners in pixels of the original image; ``xywh``: centre and size in pixels;
- ``xyxyn``, ``xywhn``: the same divided by the image's width and height (0..1).

``ims`` are the original images as RGB uint8 (H, W, 3) arrays (YOLOv5's convention); ``files`` their file names
(``image0.jpg``, ... for arrays and unnamed PIL images). Drawing, saving and cropping go through the code that
``detect.py`` uses (:mod:`utils.inference.prediction_writer`), so an image saved here matches one saved there.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from utils.boxes import xyxy_to_xywh
from utils.errors import UserError
from utils.inference.predict import _describe as describe_counts
from utils.inference.prediction_writer import PredictionWriter, annotate_detections, crop_box
from utils.inference.sources import SourceItem
from utils.run_dir import increment_path

LOGGER = logging.getLogger(__name__)

XYXY_COLUMNS = ["xmin", "ymin", "xmax", "ymax", "confidence", "class", "name"]  # pandas() columns, as YOLOv5's
XYWH_COLUMNS = ["xcenter", "ycenter", "width", "height", "confidence", "class", "name"]


class Detections:
    """Detections for a batch of images (see the module docstring for the box formats).

    ``times``: mean milliseconds per image for pre-process, inference and NMS; ``s``: the last input tensor's shape.
    """

    def __init__(
        self,
        ims: list[np.ndarray],
        pred: list[torch.Tensor],
        files: list[str],
        names: list[str],
        times: Sequence[float] = (0.0, 0.0, 0.0),
        shape: tuple[int, ...] = (),
    ) -> None:
        self.ims, self.pred, self.files, self.names = ims, pred, files, names
        self.times, self.s, self.n = tuple(times), tuple(shape), len(pred)
        gains = [torch.tensor([w, h, w, h, 1.0, 1.0]) for h, w in (im.shape[:2] for im in ims)]
        self.xyxy = pred
        self.xywh = [torch.cat((xyxy_to_xywh(p[:, :4]), p[:, 4:]), 1) for p in pred]
        self.xyxyn = [p / g for p, g in zip(self.xyxy, gains)]
        self.xywhn = [p / g for p, g in zip(self.xywh, gains)]

    def __len__(self) -> int:
        return self.n

    def __str__(self) -> str:
        lines = [f"image {i + 1}/{self.n}: {im.shape[0]}x{im.shape[1]} {_describe(p, self.names)}"
                 for i, (im, p) in enumerate(zip(self.ims, self.pred))]  # fmt: skip
        pre, inference, nms = self.times
        lines.append(f"Speed: {pre:.1f}ms pre-process, {inference:.1f}ms inference, {nms:.1f}ms NMS per image at "
                     f"shape {self.s}")  # fmt: skip
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.n} image{'s' * (self.n != 1)}>\n{self}"

    def print(self) -> None:
        """Print the per-image summary (``image 1/1: 480x640 2 circles, 1 triangle``) and the speed line."""
        print(self)

    def render(self, labels: bool = True) -> list[np.ndarray]:
        """Draw the boxes into ``ims`` (replacing them) and return them, as YOLOv5 does."""
        self.ims = [cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in self._annotated(labels)]
        return self.ims

    def show(self, labels: bool = True) -> None:
        """Show each annotated image in an OpenCV window until a key is pressed; without a display (or with a
        headless OpenCV) this logs one warning and does nothing."""
        for file, image in zip(self.files, self._annotated(labels)):
            try:
                cv2.imshow(file, image)
                cv2.waitKey(0)
                cv2.destroyWindow(file)
            except cv2.error:
                LOGGER.warning("WARNING: show() needs a display and an OpenCV build with GUI support; not showing")
                return

    def save(self, labels: bool = True, save_dir: str | Path = "runs/detect/exp", exist_ok: bool = False) -> Path:
        """Write the annotated images to ``save_dir`` (``exp2``, ``exp3``, ... when it exists, unless ``exist_ok``)
        under their ``files`` names; returns the folder used."""
        folder = increment_path(save_dir, exist_ok=exist_ok, mkdir=True)
        writer = PredictionWriter(folder, self.names)
        for i, annotated in enumerate(self._annotated(labels)):
            writer.write(self._item(i), self.pred[i].numpy(), annotated)
        LOGGER.info("Saved %d image%s to %s", self.n, "s" * (self.n != 1), folder)
        return folder

    def crop(self, save: bool = True, save_dir: str | Path = "runs/detect/exp", exist_ok: bool = False) -> list[dict]:
        """One dict per detection: ``box`` (xyxy pixels), ``conf``, ``cls`` (tensors), ``label`` (``"circle 0.87"``)
        and ``im``, the BGR crop (the box enlarged as YOLOv5's crops are; empty outside the image). ``save`` also
        writes them to ``save_dir/crops/<class name>/<file>.jpg``, ``save_dir`` incremented as in :meth:`save`."""
        writer = None
        if save:
            folder = increment_path(save_dir, exist_ok=exist_ok, mkdir=True)
            writer = PredictionWriter(folder, self.names, save_image=False, save_crop=True)
        crops = []
        for i, detections in enumerate(self.pred):
            item = self._item(i)
            if writer is not None:
                writer.write(item, detections.numpy(), item.image)
            for row in detections:
                label = f"{self.names[int(row[5])]} {float(row[4]):.2f}"
                patch = crop_box(item.image, row[:4].tolist()).copy()
                crops.append({"box": row[:4], "conf": row[4], "cls": row[5], "label": label, "im": patch})
        if writer is not None:
            LOGGER.info("Saved %d crop%s to %s", len(crops), "s" * (len(crops) != 1), writer.save_dir / "crops")
        return crops

    def pandas(self) -> Detections:
        """A copy whose ``xyxy``, ``xyxyn``, ``xywh`` and ``xywhn`` are lists of pandas DataFrames (YOLOv5's columns:
        ``xmin ymin xmax ymax confidence class name``, or ``xcenter ycenter width height ...``)."""
        try:
            import pandas
        except ImportError:
            raise UserError("Detections.pandas() needs pandas, which is not installed: pip install pandas") from None
        frames = copy.copy(self)
        for attribute, columns in (("xyxy", XYXY_COLUMNS), ("xyxyn", XYXY_COLUMNS), ("xywh", XYWH_COLUMNS),
                                   ("xywhn", XYWH_COLUMNS)):  # fmt: skip
            rows = [[[*r[:5], int(r[5]), self.names[int(r[5])]] for r in t.tolist()] for t in getattr(self, attribute)]
            setattr(frames, attribute, [pandas.DataFrame(r, columns=columns) for r in rows])
        return frames

    def tolist(self) -> list[Detections]:
        """One single-image ``Detections`` per image (YOLOv5's ``tolist``), e.g. to loop over results."""
        return [Detections([self.ims[i]], [self.pred[i]], [self.files[i]], self.names, self.times, self.s)
                for i in range(self.n)]  # fmt: skip

    def _annotated(self, labels: bool) -> list[np.ndarray]:
        """BGR copies of ``ims`` with the boxes drawn (labels with confidence unless ``labels`` is False)."""
        return [annotate_detections(self._item(i).image, p.numpy(), self.names, hide_labels=not labels)
                for i, p in enumerate(self.pred)]  # fmt: skip

    def _item(self, index: int) -> SourceItem:
        """Image ``index`` as the prediction writer takes it: BGR, named by its file name."""
        image = cv2.cvtColor(self.ims[index], cv2.COLOR_RGB2BGR)
        return SourceItem(self.files[index], image, None, None, f"image {index + 1}/{self.n} {self.files[index]}:")


def _describe(detections: torch.Tensor, names: list[str]) -> str:
    """``2 circles, 1 triangle`` or ``(no detections)``, worded as detect.py's log lines are."""
    return describe_counts(Counter(names[int(c)] for c in detections[:, 5].tolist()), names)
