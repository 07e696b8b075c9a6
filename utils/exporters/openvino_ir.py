"""OpenVINO IR export: the ONNX graph converted by the openvino package into ``<stem>_openvino_model/``."""

from __future__ import annotations

from pathlib import Path

import yaml

from utils.inference.backends import OPENVINO_METADATA


def export_openvino(onnx_path: Path, folder: Path, metadata: dict, half: bool = False) -> Path:
    """Convert ``onnx_path`` to ``folder/<folder stem without _openvino_model>.xml`` + ``.bin``; return ``folder``.

    The input shape (static or dynamic) is the ONNX file's. ``half`` stores the weights in float16 (half the file
    size; OpenVINO's CPU plugin still computes in float32, or bf16 where the CPU has it). Without ``half`` they stay
    float32: ``openvino.save_model`` would otherwise compress them by default. ``metadata.yaml`` beside the
    ``.xml`` holds ``stride``, ``names``, ``imgsz`` and ``dynamic`` (readable without OpenVINO).

    Converting the ONNX file rather than the PyTorch module reuses the one trace already made and takes about half
    the time of ``openvino.convert_model(module)``, with the same outputs.
    """
    import openvino

    folder.mkdir(parents=True, exist_ok=True)
    stem = folder.name.removesuffix("_openvino_model")
    model = openvino.convert_model(str(onnx_path))
    openvino.save_model(model, str(folder / f"{stem}.xml"), compress_to_fp16=half)
    (folder / OPENVINO_METADATA).write_text(yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True))
    return folder
