"""Checkpoints written by ultralytics/yolov5 v6.x and v7.0 (``yolov5s.pt``), read without running their code;
WongKinYiu/yolov7's (``yolov7-tiny.pt``) are the same kind, with the differences in :mod:`utils.checkpoints.yolov7`.

Those files pickle the whole model: ``{'model': DetectionModel (fp16), 'ema': DetectionModel | None, 'epoch': int,
'opt': dict, ...}`` with classes from ``models.yolo`` and ``models.common`` of their repository. The restricted
unpickler (:mod:`utils.checkpoints.safe_unpickle`) loads the classes of :data:`YOLOV5_CLASSES` as inert records; from
the model record we take ``yaml``, ``names``, ``stride`` and the tensors, rebuild our ``DetectionModel`` from that
YAML and check that the tensors load into it with ``strict=True``. The result is a checkpoint dict of ours (see
:mod:`utils.checkpoints.checkpoint`), so training, validation, detection and export treat both kinds alike.
"""

from __future__ import annotations

import copy
import numbers
from pathlib import Path

import numpy as np
import torch

from models.backbones.rows import without_pretrained
from models.yolo import DetectionModel
from utils.checkpoints.safe_unpickle import ModuleRecord, record_state_dict
from utils.checkpoints.yolov7 import DERIVED_BUFFER, YOLOV7_CLASSES, is_yolov7_yaml, yolov7_yaml_as_ours
from utils.class_names import names_list
from utils.errors import UserError

__all__ = ["PICKLED_CLASSES", "PICKLED_HINT", "convert_pickled_checkpoint", "is_pickled_model_checkpoint"]

# Their repository pickles ``models.yolo.*``; the ``yolov5`` PyPI package the same classes as ``yolov5.models...``.
_THEIR_CLASSES = ("models.yolo.DetectionModel", "models.yolo.Model")  # v6.2+ / v6.0-v6.1
_THEIR_LAYERS = ("models.yolo.Detect", "models.common.Conv", "models.common.Bottleneck", "models.common.C3",
                 "models.common.SPPF", "models.common.Concat")  # fmt: skip
YOLOV5_MODEL_CLASSES = frozenset(prefix + name for name in _THEIR_CLASSES for prefix in ("", "yolov5."))
YOLOV5_CLASSES = YOLOV5_MODEL_CLASSES | frozenset(prefix + name for name in _THEIR_LAYERS for prefix in ("", "yolov5."))
YOLOV5_CLASSES |= frozenset(
    {
        "torch.nn.modules.container.Sequential",
        "torch.nn.modules.container.ModuleList",
        "torch.nn.modules.conv.Conv2d",
        "torch.nn.modules.batchnorm.BatchNorm2d",
        "torch.nn.modules.activation.SiLU",
        "torch.nn.modules.linear.Identity",
        "torch.nn.modules.pooling.MaxPool2d",
        "torch.nn.modules.upsampling.Upsample",
    }
)
YOLOV5_HINT = "YOLOv5 v6.0+ detection checkpoints load: Conv, Bottleneck, C3, SPPF, Concat, nn.Upsample and Detect"
# what a pickled YOLOv5 or YOLOv7 checkpoint may name, and the hint for anything else
PICKLED_CLASSES = YOLOV5_CLASSES | YOLOV7_CLASSES
PICKLED_MODEL_CLASSES = YOLOV5_MODEL_CLASSES | {name for name in YOLOV7_CLASSES if name.endswith("yolo.Model")}
PICKLED_HINT = YOLOV5_HINT + "; YOLOv7 P5 ones add MP, SP, SPPCSPC, RepConv and IDetect"


def is_pickled_model_checkpoint(checkpoint: object) -> bool:
    """Whether ``checkpoint`` (as unpickled) holds a pickled YOLOv5 or YOLOv7 model rather than our state_dicts."""
    return isinstance(checkpoint, dict) and any(isinstance(checkpoint.get(k), ModuleRecord) for k in ("model", "ema"))


def convert_pickled_checkpoint(checkpoint: dict, path: str | Path) -> dict:
    """Our checkpoint dict for an unpickled YOLOv5 one: fp16 state_dicts, ``names``, ``model_yaml``, ``epoch``.

    ``model`` holds the tensors of their ``model`` (or ``ema`` when ``model`` is missing), ``ema`` those of their
    ``ema`` when the file has one (a mid-training ``last.pt``). Their ``opt`` is kept as ``yolov5_opt``; ``opt`` and
    ``optimizer`` are empty: such a file starts a training, it does not resume one. Raises :class:`UserError` naming
    ``path`` when the model is not a detection model, its YAML is missing or unsupported, or its tensors do not
    load strictly into the model built from that YAML.
    """
    records = {k: checkpoint.get(k) for k in ("model", "ema") if isinstance(checkpoint.get(k), ModuleRecord)}
    main = records.get("model") or records["ema"]
    for record in records.values():
        if record.class_path not in PICKLED_MODEL_CLASSES:
            raise UserError(f"{path}: the checkpoint's model is a {record.class_path}, not a YOLOv5 or YOLOv7 model")
    model_yaml = main.get("yaml")
    if not isinstance(model_yaml, dict):
        raise UserError(f"{path}: the pickled model has no 'yaml' dict to rebuild it from")
    yolov7 = is_yolov7_yaml(model_yaml)
    if yolov7:
        model_yaml = yolov7_yaml_as_ours(model_yaml, path)
    names = names_list(main.get("names"), path)  # v7.0 stores {0: 'person', ...}, v6.x ['person', ...]
    if not names:
        raise UserError(f"{path}: the pickled model has no class names")
    states = {k: record_state_dict(record) for k, record in records.items()}
    if yolov7:
        states = {key: {name: tensor for name, tensor in state.items() if not name.endswith(f".{DERIVED_BUFFER}")}
                  for key, state in states.items()}  # fmt: skip
    model_yaml = _checked_yaml(model_yaml, names, states, main.get("stride"), path)
    opt = checkpoint.get("opt")
    return {
        "epoch": int(checkpoint["epoch"]) if isinstance(checkpoint.get("epoch"), numbers.Integral) else -1,
        "best_fitness": _as_float(checkpoint.get("best_fitness")),
        "model": states.get("model") or states["ema"],
        "ema": states.get("ema") if "model" in states else None,
        "updates": 0,
        "optimizer": None,
        "opt": {},
        "hyp": dict(opt["hyp"]) if isinstance(opt, dict) and isinstance(opt.get("hyp"), dict) else {},
        "names": names,
        "model_yaml": model_yaml,
        "date": str(checkpoint.get("date") or ""),
        "yolov5_opt": opt if isinstance(opt, dict) else {},
        "format": "WongKinYiu/yolov7" if yolov7 else "ultralytics/yolov5",
    }


def _checked_yaml(model_yaml: dict, names: list[str], states: dict, stride: object, path: str | Path) -> dict:
    """Their YAML, checked by building our model from it and loading every state strictly; strides must agree."""
    cfg = copy.deepcopy(model_yaml)
    cfg["nc"] = len(names)
    model = DetectionModel(without_pretrained(cfg), verbose=False)  # raises UserError for unsupported rows or keys
    for key, state in states.items():
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except RuntimeError as error:
            detail = str(error).strip().splitlines()[1].strip() if "\n" in str(error).strip() else str(error)
            message = f"{path}: the '{key}' tensors do not fit the model its yaml describes ({detail[:200]})"
            raise UserError(message) from None
    if isinstance(stride, torch.Tensor) and stride.tolist() != model.stride.tolist():
        raise UserError(f"{path}: the model's strides {stride.tolist()} differ from {model.stride.tolist()}")
    return cfg


def _as_float(value: object) -> float:
    """``best_fitness``: None in release files, a float or a one-element numpy array in training ones."""
    try:
        return float(np.asarray(value, dtype=float).reshape(-1)[0]) if value is not None else 0.0
    except (TypeError, ValueError, IndexError):
        return 0.0
