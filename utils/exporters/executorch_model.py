"""ExecuTorch export: ``torch.export`` of the model, lowered to the XNNPACK delegate, in ``<stem>_executorch_model/``.

ExecuTorch is PyTorch's on-device runtime (Android, iOS, embedded Linux); its Python runtime also runs the ``.pte``
file on this machine, so the export checks itself like the other formats. The folder holds ``<stem>.pte`` and the
same ``metadata.yaml`` as the OpenVINO and NCNN folders (ultralytics' layout).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import yaml
from torch import nn

from utils.errors import UserError
from utils.inference.model_files import METADATA_YAML, first_line

LOGGER = logging.getLogger(__name__)


def export_executorch(model: nn.Module, example: torch.Tensor, folder: Path, metadata: dict) -> Path:
    """Export ``model`` (a ``decoded_only`` wrapper) at ``example``'s shape (static) into ``folder``; return it."""
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError:
        raise UserError("--include executorch needs ExecuTorch: pip install executorch") from None
    try:
        with torch.no_grad():
            program = torch.export.export(model.eval(), (example.float(),))
            lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    except Exception as error:
        raise UserError(f"ExecuTorch could not export the model: {first_line(error)}") from None
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder.name.removesuffix("_executorch_model")
    partial = folder / f"{stem}.pte.partial"
    partial.write_bytes(lowered.buffer)
    partial.replace(folder / f"{stem}.pte")
    stored = {**metadata, "dynamic": False}
    (folder / METADATA_YAML).write_text(yaml.safe_dump(stored, sort_keys=False, allow_unicode=True))
    return folder
