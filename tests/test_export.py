"""export.py end to end on the trained shapes checkpoint: files beside the weights, the strict 1e-3 self-check,
detect.py on every exported format, and mAP from ONNX/OpenVINO equal to PyTorch's on the shapes val split.

val.py reads ``.pt`` checkpoints only for now, so the mAP test runs :func:`utils.evaluate.evaluate` (what val.py
calls) through a small adapter around ``DetectMultiBackend``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import detect
import export
from utils.backends import DetectMultiBackend
from utils.dataloader import create_dataloader
from utils.evaluate import evaluate

SIZE = 160
NAMES = ["circle", "rectangle", "triangle"]


@pytest.fixture(scope="module")
def exported(shapes_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``best.pt`` copied to a fresh folder and exported by the CLI to all three formats, dynamic, at 160 px."""
    folder = tmp_path_factory.mktemp("export")
    weights = folder / "best.pt"
    shutil.copy(shapes_weights, weights)
    argv = ["--weights", str(weights), "--include", "torchscript", "onnx", "openvino", "--imgsz", str(SIZE),
            "--dynamic", "--simplify"]  # fmt: skip
    assert export.main(argv) == 0
    return weights


@pytest.mark.slow
def test_cli_writes_files_beside_the_weights(exported: Path, capsys: pytest.CaptureFixture) -> None:
    folder = exported.parent
    assert (folder / "best.torchscript").is_file() and (folder / "best.onnx").is_file()
    assert sorted(p.name for p in (folder / "best_openvino_model").iterdir()) == ["best.bin", "best.xml",
                                                                                   "metadata.yaml"]  # fmt: skip


@pytest.mark.slow
def test_self_check_is_under_1e_3_on_a_trained_model(shapes_weights: Path, tmp_path: Path) -> None:
    from utils.exporters import export as export_weights

    shutil.copy(shapes_weights, tmp_path / "best.pt")
    results = export_weights(tmp_path / "best.pt", ["torchscript", "onnx", "openvino"], imgsz=SIZE)
    assert [r.path.name for r in results] == ["best.torchscript", "best.onnx", "best_openvino_model"]
    for result in results:
        assert result.passed and result.max_abs_diff < 1e-3, result.line()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["best.torchscript", "best.onnx", "best_openvino_model"])
def test_detect_runs_every_format(exported: Path, name: str, shapes_root: Path, tmp_path: Path) -> None:
    source = sorted((shapes_root / "images" / "val").glob("*.jpg"))[0]
    argv = ["--weights", str(exported.parent / name), "--source", str(source), "--imgsz", str(SIZE), "--project",
            str(tmp_path), "--save-txt", "--conf-thres", "0.001", "--max-det", "5", "--device", "cpu"]  # fmt: skip
    assert detect.main(argv) == 0
    assert (tmp_path / "exp" / source.name).is_file() and (tmp_path / "exp" / "labels" / f"{source.stem}.txt").is_file()


class _Evaluable(nn.Module):
    """``DetectMultiBackend`` as :func:`evaluate` expects a model: ``(decoded, raw)`` and one parameter for dtype."""

    def __init__(self, backend: DetectMultiBackend) -> None:
        super().__init__()
        self.backend = backend
        self.dtype_probe = nn.Parameter(torch.zeros(()), requires_grad=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.backend(images), None


@pytest.mark.slow
def test_map_from_onnx_and_openvino_equals_pytorch(exported: Path, shapes_root: Path) -> None:
    loader, _ = create_dataloader(str(shapes_root / "images" / "val"), SIZE, 8, 32, rect=True, pad=0.5, workers=0,
                                  num_classes=len(NAMES))  # fmt: skip
    maps = {}
    for name in ("best.pt", "best.onnx", "best_openvino_model"):
        backend = DetectMultiBackend(exported.parent / name)
        model = backend.model if backend.format == "pt" else _Evaluable(backend)
        maps[name] = evaluate(model, loader, NAMES).map
    assert maps["best.pt"] > 0.05, maps  # a real, if weak, detector
    assert (
        abs(maps["best.onnx"] - maps["best.pt"]) < 0.005 and abs(maps["best_openvino_model"] - maps["best.pt"]) < 0.005
    )


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert export.main(["--weights", str(tmp_path / "missing.pt"), "--include", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: weights not found: {tmp_path / 'missing.pt'}"
    assert export.main(["--weights", str(tmp_path / "model.onnx")]) == 2
    assert "export reads a .pt checkpoint" in capsys.readouterr().err
