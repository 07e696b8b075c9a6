"""``PredictOptions``: every ``detect.py`` flag, built once by the command line (or a caller) and passed whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from utils.bounds import check_image_size, check_number


@dataclass(frozen=True)
class PredictOptions:
    """What :func:`~utils.inference.predict.predict` runs, with ``detect.py``'s flag names and defaults (YOLOv5's).

    ``weights``: any format :class:`~utils.inference.backends.DetectMultiBackend` reads; ``source``: anything
    :func:`~utils.inference.sources.iterate_source` reads (files, folders, globs, lists, videos, webcams, URLs).
    ``imgsz``: one size or ``(H, W)``, rounded up to the model's stride. Results go to ``project/name``.
    """

    weights: str | Path
    source: str | int | Path
    imgsz: int | Sequence[int] = 640
    conf_thres: float = 0.25
    iou_thres: float = 0.45
    max_det: int = 1000
    device: str = ""
    view_img: bool = False
    save_txt: bool = False
    save_conf: bool = False
    save_crop: bool = False
    nosave: bool = False
    classes: Sequence[int] | None = None
    agnostic_nms: bool = False
    augment: bool = False
    project: str | Path = "runs/detect"
    name: str = "exp"
    exist_ok: bool = False
    line_thickness: int = 3
    hide_labels: bool = False
    hide_conf: bool = False
    half: bool = False
    vid_stride: int = 1
    visualize: bool = False
    save_csv: bool = False

    def __post_init__(self) -> None:
        check_image_size("--imgsz", self.imgsz)
        check_number("--conf-thres", self.conf_thres, 0, 1)
        check_number("--iou-thres", self.iou_thres, 0, 1)
        check_number("--max-det", self.max_det, 1, integer=True)
        check_number("--line-thickness", self.line_thickness, 1, integer=True)
        check_number("--vid-stride", self.vid_stride, 1, integer=True)
