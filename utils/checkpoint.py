"""Checkpoint files: plain dicts of state_dicts and data, written atomically, read with ``weights_only=True``.

Layout (keys YOLOv5 users know, minus the pickled modules)::

    {"epoch": int, "best_fitness": float, "model": state_dict (fp16), "ema": state_dict | None,
     "updates": int, "optimizer": state_dict | None, "opt": dict, "hyp": dict, "names": list[str],
     "model_yaml": dict, "date": str}

No ``nn.Module`` is pickled, so the repository's module layout can change without breaking old files.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import torch

from models.yolo import DetectionModel
from utils.errors import UserError


def save_checkpoint(checkpoint: dict, path: str | Path) -> None:
    """Write ``checkpoint`` to ``path`` through a temporary file and ``os.replace``: a crash never leaves a
    half-written file where a good one was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint of ours with ``torch.load(weights_only=True)``: tensors and plain data only."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: not a checkpoint this repository can read ({first_line[:200]})") from None
    if not isinstance(checkpoint, dict) or "model_yaml" not in checkpoint or "model" not in checkpoint:
        raise UserError(f"{path}: not a checkpoint of this repository (expected keys 'model' and 'model_yaml')")
    return checkpoint


def model_from_checkpoint(checkpoint: dict, use_ema: bool = True) -> DetectionModel:
    """A float32 ``DetectionModel`` with the checkpoint's weights (the EMA ones when present and ``use_ema``).

    The model is rebuilt from the stored YAML with backbone downloads turned off: the weights come from the file.
    """
    names = list(checkpoint.get("names") or [])
    model = DetectionModel(without_pretrained(checkpoint["model_yaml"]), nc=len(names) or None, verbose=False)
    state = checkpoint["ema"] if use_ema and checkpoint.get("ema") else checkpoint["model"]
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    model.names = names or model.names
    return model.float()


def without_pretrained(model_yaml: dict) -> dict:
    """A copy of ``model_yaml`` whose Backbone rows have ``pretrained: false``."""
    cfg = copy.deepcopy(model_yaml)
    for row in cfg.get("backbone", []):
        if isinstance(row, list) and len(row) == 4 and row[2] == "Backbone" and len(row[3]) == 2:
            row[3][1] = {**row[3][1], "pretrained": False}
    return cfg


def transfer_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Copy every tensor of ``state`` whose name and shape match ``model``; return (copied, model's total)."""
    target = model.state_dict()
    matching = {k: v for k, v in state.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(matching, strict=False)
    return len(matching), len(target)


def half_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict with floating-point tensors in fp16 (YOLOv5 stores weights this way)."""
    return {k: v.detach().half() if v.is_floating_point() else v.detach() for k, v in model.state_dict().items()}
