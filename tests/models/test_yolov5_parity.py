"""Parity with the ultralytics ``yolov5`` PyPI package: parameter counts, state_dict names, fused outputs, the loss."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from models.yolo import DetectionModel
from tests.helpers import yolov5_reference
from utils.hyp import load_hyp
from utils.train.loss import YoloLoss

ROOT = Path(__file__).resolve().parents[2]
# Printed by the yolov5 7.0.14 model summary for the same YAMLs at nc=80: (unfused, fused)
PUBLISHED = {
    "n": (1_872_157, 1_867_405),
    "s": (7_235_389, 7_225_885),
    "m": (21_190_557, 21_172_173),
    "l": (46_563_709, 46_533_693),
    "x": (86_749_405, 86_705_005),
}


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", list(PUBLISHED))
def test_parameter_counts_equal_yolov5(size):
    model = DetectionModel(f"configs/models/yolov5{size}.yaml")
    assert parameter_count(model) == PUBLISHED[size][0]
    assert parameter_count(model.fuse()) == PUBLISHED[size][1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Run the reference script in the yolov5 package's venv; skip locally, fail in CI, when it is missing."""
    out = tmp_path_factory.mktemp("yolov5_reference")
    python, env = yolov5_reference(out, "the yolov5 parity tests")
    script = ROOT / "tests" / "reference" / "yolov5_reference.py"
    result = subprocess.run([str(python), str(script), str(out)], env=env, capture_output=True, text=True, cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_parameter_counts_measured_from_package(reference):
    counts = json.loads((reference / "counts.json").read_text())
    assert counts["version"] == "7.0.14"
    for size, (params, fused) in PUBLISHED.items():
        assert (counts[size]["params"], counts[size]["fused_params"]) == (params, fused)


def test_yolov5s_state_dict_loads_strictly_and_fused_outputs_match(reference):
    state = torch.load(reference / "state_dict.pt", map_location="cpu", weights_only=True)
    image = torch.load(reference / "input.pt", weights_only=True)
    expected = torch.load(reference / "output.pt", weights_only=True)
    model = DetectionModel("configs/models/yolov5s.yaml")
    assert set(model.state_dict()) == set(state)
    model.load_state_dict(state, strict=True)
    model.fuse()
    with torch.no_grad():
        decoded, raw = model(image)
    for ours, theirs in zip(raw, expected["raw"]):
        assert (ours - theirs).abs().max() < 1e-4
    scale = expected["decoded"].abs().max().clamp(min=1.0)  # boxes are in pixels: compare relative to their size
    assert (decoded - expected["decoded"]).abs().max() / scale < 1e-5
    assert (decoded[..., 4:] - expected["decoded"][..., 4:]).abs().max() < 1e-4


def test_training_loss_and_its_gradients_equal_the_packages(reference):
    """Our loss as the trainer builds it (``YoloLoss.from_hyp``: gains scaled for levels, classes and image size;
    label smoothing) on the package's random raw maps and targets: the same loss, parts and gradients."""
    case = torch.load(reference / "loss.pt", weights_only=True)
    model = DetectionModel("configs/models/yolov5n.yaml", nc=case["classes"], verbose=False)
    assert torch.allclose(model.head.anchors, case["anchors"])
    hyp = load_hyp("configs/hyps/hyp.scratch-low.yaml")
    loss_fn = YoloLoss.from_hyp(model.head.anchors, case["classes"], hyp, case["image_size"], label_smoothing=0.1)
    raw = [r.clone().requires_grad_(True) for r in case["raw"]]
    loss, parts = loss_fn(raw, case["targets"])
    loss.backward()
    assert loss.item() == pytest.approx(case["loss"].item(), rel=1e-5)
    assert [parts[k].item() for k in ("box", "obj", "cls")] == pytest.approx(case["parts"].tolist(), rel=1e-5)
    for ours, theirs in zip(raw, case["grads"], strict=True):
        assert (ours.grad - theirs).abs().max() < 1e-6 * theirs.abs().max()
