"""Checkpoint files: plain dicts of state_dicts and data, written atomically, read by a restricted unpickler.

Layout (keys YOLOv5 users know, minus the pickled modules)::

    {"epoch": int, "best_fitness": float, "model": state_dict (fp16), "ema": state_dict | None,
     "updates": int, "optimizer": state_dict | None, "opt": dict, "hyp": dict, "names": list[str],
     "model_yaml": dict, "date": str}

No ``nn.Module`` is pickled, so the repository's module layout can change without breaking old files.
:func:`load_checkpoint` also reads checkpoints of ultralytics/yolov5 v6.x/v7.0 (``yolov5s.pt``), which do pickle
their model, and converts them to this layout (:mod:`utils.checkpoints.yolov5`). Both kinds go through the same
restricted unpickler (:mod:`utils.checkpoints.safe_unpickle`): a file that names any other class or function is
refused before anything of it runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from models.backbones.rows import without_pretrained
from models.yolo import DetectionModel
from utils.checkpoints.safe_unpickle import UnsafePickleError, restricted_torch_load
from utils.checkpoints.yolov5 import (
    PICKLED_CLASSES,
    PICKLED_HINT,
    convert_pickled_checkpoint,
    is_pickled_model_checkpoint,
)
from utils.errors import UserError


def save_checkpoint(checkpoint: dict, path: str | Path) -> None:
    """Write ``checkpoint`` to ``path`` through a temporary file and ``os.replace``: a crash never leaves a
    half-written file where a good one was. The file gets the mode a plain ``open`` would give it under the user's
    umask (0644 under umask 022), not the temporary file's private 0600, so colleagues can read shared weights."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_current_umask())
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint of ours, or an ultralytics/yolov5 one converted to ours, through the restricted unpickler.

    Tensors and plain data load; the module classes of YOLOv5 files load as inert records; anything else is refused
    with a :class:`UserError` naming the class.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights not found: {path}")
    try:
        checkpoint = restricted_torch_load(path, map_location, PICKLED_CLASSES, PICKLED_HINT)
    except UnsafePickleError as error:
        raise UserError(f"{path}: {error}") from None
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: not a checkpoint this repository can read ({first_line[:200]})") from None
    if is_pickled_model_checkpoint(checkpoint):
        return convert_pickled_checkpoint(checkpoint, path)
    if not isinstance(checkpoint, dict) or "model_yaml" not in checkpoint or "model" not in checkpoint:
        raise UserError(f"{path}: not a checkpoint of this repository (expected keys 'model' and 'model_yaml')")
    return checkpoint


def load_resumable_checkpoint(path: str | Path) -> dict:
    """:func:`load_checkpoint` for ``--resume``: one of our training checkpoints. A YOLOv5 file has no optimizer or
    run folder of ours, so it is refused with a pointer to ``--weights``."""
    checkpoint = load_checkpoint(path)
    if checkpoint.get("format") == "ultralytics/yolov5":
        raise UserError(
            f"--resume {path}: an ultralytics/yolov5 checkpoint can start a training (--weights), not resume one"
        )
    return checkpoint


def model_from_checkpoint(checkpoint: dict, use_ema: bool = True) -> DetectionModel:
    """A float32 ``DetectionModel`` with the checkpoint's weights (the EMA ones when present and ``use_ema``).

    The model is rebuilt from the stored YAML with backbone downloads turned off: the weights come from the file.
    """
    names = list(checkpoint.get("names") or [])
    model = DetectionModel(without_pretrained(checkpoint["model_yaml"]), nc=len(names) or None, verbose=False)
    state = checkpoint["ema"] if use_ema and checkpoint.get("ema") else checkpoint["model"]
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    except RuntimeError as error:  # a hand-edited file: tensors that do not fit the model its YAML builds
        detail = str(error).strip().splitlines()
        raise UserError(f"checkpoint tensors do not match its model_yaml ({detail[-1].strip()[:200]})") from None
    model.names = names or model.names
    return model.float()


def transfer_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Copy every tensor of ``state`` whose name and shape match ``model``; return (copied, model's total)."""
    target = model.state_dict()
    matching = {k: v for k, v in state.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(matching, strict=False)
    return len(matching), len(target)


def half_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict with floating-point tensors in fp16 (YOLOv5 stores weights this way), in the
    standard NCHW layout whatever layout the model trained in."""
    return {
        k: v.detach().to(torch.float16, memory_format=torch.contiguous_format) if v.is_floating_point() else v.detach()
        for k, v in model.state_dict().items()
    }


def align_head_layers(state: dict[str, torch.Tensor], source_yaml: dict, target_yaml: dict) -> dict:
    """Rename ``state``'s head layers so they line up with ``target_yaml``'s, for transfer across backbones.

    Layers are numbered through the backbone section, then the head section. A native yolov5s has 10 backbone rows
    and a pluggable config 5, so the same neck layer is ``model.13`` in one and ``model.8`` in the other; this maps
    head row j of the source onto head row j of the target. Backbone tensors keep their names.
    """
    source_start, target_start = len(source_yaml.get("backbone", [])), len(target_yaml.get("backbone", []))
    if source_start == target_start:
        return state
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) > 2 and parts[0] == "model" and parts[1].isdigit() and int(parts[1]) >= source_start:
            parts[1] = str(int(parts[1]) - source_start + target_start)
            key = ".".join(parts)
        renamed[key] = value
    return renamed
