"""COCO's conventions for image and category ids, so ``predictions.json`` can be scored against COCO's own files.

COCO names an image by the number in its file name (``000000000139.jpg`` is image 139) and numbers its 80
detection classes with ids from 1 to 90 that skip ten retired ones (``COCO_CATEGORY_IDS``); a model trained on
the 80 classes in COCO's order predicts class indices 0..79, which map onto those ids in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
RETIRED_IDS = frozenset({12, 26, 29, 30, 45, 66, 68, 69, 71, 83})  # of the paper's 91 ids, never annotated
COCO_CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in RETIRED_IDS)  # class index -> COCO category id


def is_coco_names(names: Sequence[str]) -> bool:
    """True when ``names`` are COCO's 80 detection classes in COCO's order (the names, not just their count)."""
    return tuple(str(name).strip() for name in names) == COCO_NAMES


def category_ids(names: Sequence[str]) -> list[int]:
    """Class index -> ``category_id`` for COCO JSON: COCO's ids for COCO's 80 names, else the class index."""
    return list(COCO_CATEGORY_IDS) if is_coco_names(names) else list(range(len(names)))


def image_id(path: str | Path) -> int | str:
    """COCO's ``image_id`` for an image file: the stem as an int when it is all digits, else the stem itself."""
    stem = Path(path).stem
    return int(stem) if stem.isdecimal() else stem
