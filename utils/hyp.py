"""Load and check a hyperparameter YAML (``configs/hyps/*.yaml``, YOLOv5 key names)."""

from __future__ import annotations

from pathlib import Path

from utils.errors import UserError
from utils.yaml_io import read_yaml_mapping

DEFAULT_HYP = Path(__file__).resolve().parents[1] / "configs" / "hyps" / "hyp.scratch-low.yaml"

OPTIMIZER_KEYS = ("lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr")
LOSS_KEYS = ("box", "cls", "cls_pw", "obj", "obj_pw", "iou_t", "anchor_t", "fl_gamma")
AUGMENT_KEYS = (
    "hsv_h",
    "hsv_s",
    "hsv_v",
    "degrees",
    "translate",
    "scale",
    "shear",
    "perspective",
    "flipud",
    "fliplr",
    "mosaic",
    "mixup",
    "copy_paste",
)
OPTIONAL_KEYS = ("anchors", "label_smoothing")  # YOLOv5 files sometimes carry these
# YOLOv7's files: loss_ota 1 trains with its OTA assignment (utils/train/ota_loss.py); paste_in (its copy-paste
# augmentation) is not implemented here, so a value above 0 is refused rather than ignored
YOLOV7_KEYS = ("loss_ota", "paste_in")


def load_hyp(path: str | Path = DEFAULT_HYP) -> dict[str, float]:
    """Read a hyp YAML; every known key must be present and numeric, unknown keys are rejected."""
    hyp = read_yaml_mapping(path, "hyperparameter file")
    check_hyp(hyp, str(path))
    return {k: float(v) for k, v in hyp.items()}


def check_hyp(hyp: dict, source: str = "hyp", keys: tuple[str, ...] | None = None) -> None:
    """Raise :class:`UserError` for a missing, unknown or non-numeric key (``keys`` defaults to all of them)."""
    known = OPTIMIZER_KEYS + LOSS_KEYS + AUGMENT_KEYS
    for key in hyp:
        if key not in known + OPTIONAL_KEYS + YOLOV7_KEYS:
            raise UserError(f"{source}: unknown hyperparameter {key!r} (expected one of {', '.join(known)})")
    if hyp.get("loss_ota", 0) not in (0, 1):
        raise UserError(
            f"{source}: loss_ota must be 0 (YOLOv5's loss) or 1 (YOLOv7's OTA loss), got {hyp['loss_ota']!r}"
        )
    if hyp.get("paste_in", 0):
        raise UserError(f"{source}: paste_in {hyp['paste_in']!r}: YOLOv7's paste-in augmentation is not implemented "
                        "here; set it to 0")  # fmt: skip
    for key in keys or known:
        if key not in hyp:
            raise UserError(f"{source}: missing hyperparameter {key!r}")
        if isinstance(hyp[key], bool) or not isinstance(hyp[key], (int, float)):
            raise UserError(f"{source}: hyperparameter {key!r} must be a number, got {hyp[key]!r}")
