"""``EvalOptions``: what ``val.py``'s flags ask of one evaluation, built once and passed whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from utils.bounds import check_number


@dataclass(frozen=True)
class EvalOptions:
    """How :func:`~utils.evaluation.evaluate.evaluate` scores a detector; names and defaults are YOLOv5's ``val.py``.

    - ``conf_thres``, ``iou_thres``, ``max_det``: NMS; ``single_cls``: every class scored as class 0.
    - ``augment``: test-time augmentation (a ``DetectionModel`` only); ``half``: float16 autocast (CUDA only).
    - ``save_dir``: where plots (``plots``), ``labels/*.txt`` (``save_txt``: ``class x y w h [conf]`` normalised to
      the original image, ``conf`` with ``save_conf``) and ``predictions.json`` / ``ground_truth.json``
      (``save_json``, which also runs pycocotools' COCOeval on the same detections) go.
    - ``coco_annotations``: COCO's own annotation file (``instances_val2017.json``) for COCOeval to score
      ``predictions.json`` against instead of the labels (``save_json``); val.py finds it under the data root.
    - ``verbose``: log the table with one row per class.
    """

    conf_thres: float = 0.001
    iou_thres: float = 0.6
    max_det: int = 300
    single_cls: bool = False
    augment: bool = False
    half: bool = False
    save_dir: str | Path | None = None
    plots: bool = False
    save_txt: bool = False
    save_conf: bool = False
    save_json: bool = False
    coco_annotations: str | Path | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        check_number("--conf-thres", self.conf_thres, 0, 1)
        check_number("--iou-thres", self.iou_thres, 0, 1)
        check_number("--max-det", self.max_det, 1, integer=True)
