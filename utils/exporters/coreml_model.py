"""CoreML export: the traced model converted by ``coremltools`` to an ML program, ``<stem>.mlpackage``.

CoreML runs on Apple devices only, so here the file is converted and its spec checked (input and output names and
shapes, the metadata), not run: see :func:`check_coreml_spec`.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from utils.errors import UserError
from utils.inference.model_files import first_line

LOGGER = logging.getLogger(__name__)
INPUT_NAME, OUTPUT_NAME = "images", "output0"  # as in the ONNX file


def export_coreml(model: nn.Module, example: torch.Tensor, path: Path, metadata: dict, half: bool = False) -> Path:
    """Convert ``model`` (a ``decoded_only`` wrapper) at ``example``'s shape (static) to ``path`` (``.mlpackage``).

    The input is the same NCHW float tensor as every other format's (RGB 0..1), the output the decoded
    ``(1, N, 5 + nc)``. It computes in float32, or float16 with ``half`` (coremltools' own default for ML programs,
    which this export does not leave to chance). The metadata goes into the model's ``user_defined_metadata``:
    ``stride``, ``imgsz`` and ``dynamic`` as text, ``names`` as a JSON list.
    """
    try:
        import coremltools
    except ImportError:
        raise UserError("--include coreml needs coremltools: pip install coremltools") from None
    precision = coremltools.precision.FLOAT16 if half else coremltools.precision.FLOAT32
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarning on the head's Python ints; jit.trace's deprecation notice
            traced = torch.jit.trace(model.eval(), example.float(), check_trace=False, strict=False)
            converted = coremltools.convert(
                traced,
                inputs=[coremltools.TensorType(name=INPUT_NAME, shape=tuple(example.shape))],
                outputs=[coremltools.TensorType(name=OUTPUT_NAME)],
                convert_to="mlprogram",
                compute_precision=precision,
                minimum_deployment_target=coremltools.target.iOS15,
            )
    except Exception as error:
        raise UserError(f"coremltools could not convert the model: {first_line(error)}") from None
    for key, value in {**metadata, "dynamic": False}.items():
        converted.user_defined_metadata[key] = json.dumps(value) if key == "names" else str(value)
    if path.exists():
        shutil.rmtree(path)
    converted.save(str(path))
    return path


def check_coreml_spec(path: Path, input_shape: tuple[int, ...], metadata: dict) -> list[str]:
    """What is wrong with the spec of the saved ``path`` (empty when nothing): one input ``images`` of
    ``input_shape``, one output ``output0``, and the metadata as written."""
    import coremltools

    spec = coremltools.utils.load_spec(str(path))
    problems = []
    inputs = [(i.name, tuple(i.type.multiArrayType.shape)) for i in spec.description.input]
    if inputs != [(INPUT_NAME, tuple(input_shape))]:
        problems.append(f"inputs {inputs}, expected [({INPUT_NAME!r}, {tuple(input_shape)})]")
    outputs = [o.name for o in spec.description.output]
    if outputs != [OUTPUT_NAME]:
        problems.append(f"outputs {outputs}, expected [{OUTPUT_NAME!r}]")
    stored = dict(spec.description.metadata.userDefined)
    if stored.get("stride") != str(metadata["stride"]) or json.loads(stored.get("names", "null")) != metadata["names"]:
        problems.append(f"metadata stride/names {stored.get('stride')!r}/{stored.get('names')!r}")
    return problems
