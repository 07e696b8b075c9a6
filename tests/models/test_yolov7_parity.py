"""Parity with ``yolov7-package`` (WongKinYiu/yolov7's model code): counts, state_dict names and outputs of
yolov7-tiny and yolov7, the reference built from our config rewritten into YOLOv7's row format."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from models.yolo import DetectionModel
from models.yolov7_blocks import ImplicitA, ImplicitM
from tests.helpers import yolov5_reference
from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
from utils.train.ota_loss import OtaLoss

ROOT = Path(__file__).resolve().parents[2]
# the issue's counts at nc=80, counted with YOLOv7's own code: (unfused, fused with the implicit layers folded away)
COUNTS = {"yolov7-tiny": (6_228_762, 6_219_709), "yolov7": (37_622_682, 36_905_341)}


@pytest.fixture(scope="module", params=list(COUNTS))
def reference(request, tmp_path_factory) -> tuple[Path, Path]:
    """(our config, the reference's figures for it): the script runs in the reference venv; skip locally, fail in
    CI, when that is missing."""
    config = ROOT / "configs" / "models" / f"{request.param}.yaml"
    out = tmp_path_factory.mktemp(f"{request.param}_reference")
    python, env = yolov5_reference(out, "the yolov7 parity tests")
    script = ROOT / "tests" / "reference" / "yolov7_reference.py"
    result = subprocess.run([str(python), str(script), str(config), str(out)], env=env, capture_output=True,
                            text=True, cwd=out)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return config, out


def test_counts_equal_the_references(reference):
    """Unfused counts are equal; the reference's fuse() keeps its implicit layers' parameters (unused by its fused
    forward) where ours drops them, so its fused count is ours plus theirs."""
    config, out = reference
    counts = json.loads((out / "counts.json").read_text())
    model = DetectionModel(config, verbose=False)
    implicit = sum(m.implicit.numel() for m in model.modules() if isinstance(m, (ImplicitA, ImplicitM)))
    assert counts["params"] == sum(p.numel() for p in model.parameters()) == COUNTS[config.stem][0]
    fused = sum(p.numel() for p in model.fuse().parameters())
    assert counts["fused_params"] - implicit == fused == COUNTS[config.stem][1]


def test_state_dict_loads_strictly_and_outputs_match(reference):
    """The reference's state_dict, less ``anchor_grid`` (a buffer it derives from ``anchors``; ours computes it),
    loads with ``strict=True``; unfused and fused (RepConv reparameterized, implicit layers folded) eval outputs
    equal the reference's unfused ones."""
    config, out = reference
    state = torch.load(out / "state_dict.pt", map_location="cpu", weights_only=True)
    image = torch.load(out / "input.pt", weights_only=True)
    expected = torch.load(out / "output.pt", weights_only=True)
    state = {name: tensor for name, tensor in state.items() if not name.endswith("anchor_grid")}
    model = DetectionModel(config, verbose=False)
    assert set(model.state_dict()) == set(state)
    model.load_state_dict(state, strict=True)
    model.eval()
    for fused in (False, True):
        if fused:
            model.fuse()
        with torch.no_grad():
            decoded, raw = model(image)
        for ours, theirs in zip(raw, expected["raw"]):
            assert (ours - theirs).abs().max() < 1e-4, fused
        scale = expected["decoded"].abs().max().clamp(min=1.0)  # boxes in pixels: relative to their size
        assert (decoded - expected["decoded"]).abs().max() / scale < 1e-5, fused
        assert (decoded[..., 4:] - expected["decoded"][..., 4:]).abs().max() < 1e-4, fused


def test_ota_loss_and_its_gradients_equal_the_references(reference):
    """Our ``OtaLoss`` as the trainer builds it (``from_hyp``: gains scaled for levels, classes and image size;
    label smoothing) on the package's random raw maps and targets: the same loss, parts and gradients as
    YOLOv7's ``ComputeLossOTA``."""
    config, out = reference
    case = torch.load(out / "loss.pt", weights_only=True)
    model = DetectionModel(config, nc=case["classes"], verbose=False)
    assert torch.allclose(model.head.anchors, case["anchors"]) and torch.equal(model.head.stride, case["strides"])
    hyp = {"box": 0.05, "cls": 0.5, "cls_pw": 1.0, "obj": 1.0, "obj_pw": 1.0, "anchor_t": 4.0}
    loss_fn = OtaLoss.from_hyp(model.head.anchors, case["classes"], hyp, case["image_size"], label_smoothing=0.1,
                               strides=model.head.stride.tolist())  # fmt: skip
    raw = [r.clone().requires_grad_(True) for r in case["raw"]]
    loss, parts = loss_fn(raw, case["targets"])
    loss.backward()
    assert loss.item() == pytest.approx(case["loss"].item(), rel=1e-5)
    assert [parts[k].item() for k in ("box", "obj", "cls")] == pytest.approx(case["parts"][:3].tolist(), rel=1e-5)
    for ours, theirs in zip(raw, case["grads"], strict=True):
        assert (ours.grad - theirs).abs().max() < 1e-6 * theirs.abs().max()


def test_a_release_checkpoint_loads_through_the_restricted_unpickler(reference):
    """A file pickled as WongKinYiu/yolov7's train.py leaves one (``models.yolo.Model``, fp16, the activation as a
    Conv argument) converts to our checkpoint, and the model it rebuilds gives the reference's output for those
    fp16 weights, unfused and fused."""
    config, out = reference
    checkpoint = load_checkpoint(out / "release.pt")
    assert checkpoint["format"] == "WongKinYiu/yolov7" and checkpoint["names"][:2] == ["class0", "class1"]
    their_activation = "nn.LeakyReLU(0.1)" if config.stem == "yolov7-tiny" else None
    assert checkpoint["model_yaml"].get("activation") == their_activation
    image = torch.load(out / "input.pt", weights_only=True)
    expected = torch.load(out / "release_output.pt", weights_only=True)
    model = model_from_checkpoint(checkpoint).eval()
    for fused in (False, True):
        if fused:
            model.fuse()
        with torch.no_grad():
            decoded = model(image)[0]
        scale = expected.abs().max().clamp(min=1.0)
        assert (decoded - expected).abs().max() / scale < 1e-5, fused
