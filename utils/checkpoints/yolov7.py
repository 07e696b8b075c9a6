"""Checkpoints written by WongKinYiu/yolov7 (``yolov7-tiny.pt``, ``yolov7.pt``, ``yolov7x.pt``), read without
running their code.

Their files are YOLOv5's kind: a pickled ``models.yolo.Model`` holding ``yaml``, ``names`` and ``stride``, so
:mod:`utils.checkpoints.yolov5` converts them; this module adds what differs. The pickled classes
(:data:`YOLOV7_CLASSES`) load as inert records. Their YAML gives each ``Conv`` row its activation as a Python
expression (``[32, 3, 2, None, 1, nn.LeakyReLU(0.1)]``), which their parser evaluates; ours takes one ``activation``
key per model, so :func:`yolov7_yaml_as_ours` moves it there and refuses rows it cannot express. Their ``IDetect``
also keeps ``anchor_grid`` as a buffer; ours derives it from ``anchors``, so :data:`DERIVED_BUFFER` is dropped.
"""

from __future__ import annotations

import copy
from pathlib import Path

from utils.errors import UserError

__all__ = ["DERIVED_BUFFER", "YOLOV7_CLASSES", "is_yolov7_yaml", "yolov7_yaml_as_ours"]

_THEIR_LAYERS = ("models.yolo.IDetect", "models.yolo.Detect", "models.common.Conv", "models.common.Concat",
                 "models.common.MP", "models.common.SP", "models.common.SPPCSPC", "models.common.RepConv",
                 "models.common.ImplicitA", "models.common.ImplicitM")  # fmt: skip
YOLOV7_CLASSES = frozenset(prefix + name for name in ("models.yolo.Model", *_THEIR_LAYERS)
                           for prefix in ("", "yolov7_package."))  # fmt: skip
YOLOV7_CLASSES |= frozenset({"torch.nn.modules.activation.LeakyReLU", "torch.nn.modules.activation.ReLU"})
DERIVED_BUFFER = "anchor_grid"
_YOLOV7_ONLY = {"IDetect", "RepConv", "SPPCSPC", "MP", "SP"}
_DEFAULT_ACTIVATIONS = (True, "True")  # their Conv's act=True: SiLU, as ours without an activation key
_ACTIVATED = ("Conv", "RepConv")  # rows whose activation ours sets from the model's key


def is_yolov7_yaml(model_yaml: dict) -> bool:
    """Whether a pickled model's YAML is YOLOv7's: a module only YOLOv7 has, or a Conv row with groups and an
    activation (YOLOv5's rows stop at the padding)."""
    for row in [*(model_yaml.get("backbone") or []), *(model_yaml.get("head") or [])]:
        if not _well_formed(row):
            continue
        if row[2] in _YOLOV7_ONLY or (row[2] == "Conv" and len(row[3]) > 4):
            return True
    return False


def yolov7_yaml_as_ours(model_yaml: dict, path: str | Path) -> dict:
    """Their YAML with each ``Conv`` / ``RepConv`` row cut to ``[c2, k, s]`` (a Conv keeps an explicit padding) and
    the rows' one activation as the model's ``activation`` key (a row without one has their default, SiLU). Raises
    :class:`UserError` naming ``path`` for groups, a padded RepConv, or activations that differ between rows (one
    per model is what ours express)."""
    cfg = copy.deepcopy(model_yaml)
    activations = set()
    for section in ("backbone", "head"):
        for index, row in enumerate(cfg.get(section) or []):
            if not _well_formed(row) or row[2] not in _ACTIVATED:
                continue  # a malformed row is left for the parser to name
            padding, groups, activation = (list(row[3][3:]) + [None, 1, True])[:3]
            where = f"{path}: {section} row {index} {row}"
            if groups != 1 or (row[2] == "RepConv" and padding not in (None, "None")):
                raise UserError(f"{where}: expected [c2, k, s, None, 1, activation] (no groups; padding on Conv only)")
            if not isinstance(activation, (str, bool)):
                raise UserError(f"{where}: activation {activation!r}: expected True or an nn.<Activation>(...)")
            activations.add(True if activation in _DEFAULT_ACTIVATIONS else activation)
            row[3] = list(row[3][:3]) + ([] if padding in (None, "None") else [padding])
    if len(activations) > 1:
        named = ", ".join("SiLU (their default)" if a is True else str(a) for a in activations)
        raise UserError(f"{path}: Conv rows use several activations ({named}); this repository gives a model one")
    activation = activations.pop() if activations else True
    if activation is not True:
        if activation in (False, "False", "None"):
            raise UserError(f"{path}: Conv activation {activation!r}: expected True or an nn.<Activation>(...)")
        cfg["activation"] = activation
    return cfg


def _well_formed(row: object) -> bool:
    return isinstance(row, list) and len(row) == 4 and isinstance(row[3], list)
