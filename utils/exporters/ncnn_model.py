"""NCNN export: the traced model converted by Tencent's ``pnnx`` into ``<stem>_ncnn_model/``.

pnnx reads a TorchScript file and writes, among its own intermediate files, the NCNN pair ``model.ncnn.param``
(the graph, text) and ``model.ncnn.bin`` (the weights). The intermediate files stay in a scratch folder; the output
folder gets the pair and ``metadata.yaml`` (stride, names, imgsz), the layout ultralytics uses, so phone apps written
for it find the same file names.
"""

from __future__ import annotations

import subprocess
import tempfile
import warnings
from pathlib import Path

import torch
import yaml
from torch import nn

from utils.errors import UserError
from utils.inference.model_files import NCNN_BIN, NCNN_PARAM, OPENVINO_METADATA

PNNX_TIMEOUT_S = 600


def export_ncnn(model: nn.Module, example: torch.Tensor, folder: Path, metadata: dict, half: bool = False) -> Path:
    """Trace ``model`` (a ``decoded_only`` wrapper) on ``example`` and convert it with pnnx into ``folder``.

    The NCNN graph has the example's input size baked in (pnnx folds the head's grid arithmetic), so the metadata
    says ``dynamic: false`` whatever was asked. ``half`` stores the weights in float16 (half the file; NCNN then
    computes in float32 unless the loader turns its float16 storage on); without it they stay float32, so the file
    gives PyTorch's numbers on any CPU.
    """
    pnnx_binary = _pnnx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pnnx-") as scratch_dir:
        scratch = Path(scratch_dir)
        traced_path = scratch / "model.torchscript"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarning on the head's Python ints; jit.trace's deprecation notice
            torch.jit.trace(model, example, check_trace=False, strict=False).save(str(traced_path))
        shape = ",".join(str(size) for size in example.shape)
        command = [
            pnnx_binary, str(traced_path), f"inputshape=[{shape}]f32", "device=cpu", f"fp16={int(half)}",
            *(f"{key}={scratch / name}" for key, name in (
                ("pnnxparam", "model.pnnx.param"), ("pnnxbin", "model.pnnx.bin"), ("pnnxpy", "model_pnnx.py"),
                ("pnnxonnx", "model.pnnx.onnx"), ("ncnnpy", "model_ncnn.py"))),
            f"ncnnparam={folder / NCNN_PARAM}", f"ncnnbin={folder / NCNN_BIN}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=PNNX_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(f"pnnx did not finish converting {folder.name} in {PNNX_TIMEOUT_S} s") from None
        if done.returncode != 0 or not (folder / NCNN_PARAM).is_file() or not (folder / NCNN_BIN).is_file():
            raise UserError(f"pnnx could not convert the model to NCNN: {_reason(done.stdout + done.stderr)}")
    stored = {**metadata, "dynamic": False, **({"weights": "f16"} if half else {})}
    (folder / OPENVINO_METADATA).write_text(yaml.safe_dump(stored, sort_keys=False, allow_unicode=True))
    return folder


def _pnnx_binary() -> str:
    try:
        import pnnx
    except ImportError:
        raise UserError("--include ncnn needs pnnx and ncnn: pip install pnnx ncnn") from None
    return str(pnnx.EXEC_PATH)


def _reason(output: str) -> str:
    """The converter's own words: its last line that reads like an error, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if any(word in line.lower() for word in ("error", "unsupported", "fail"))]
    return (errors or lines or ["(no output)"])[-1][:300]
