import os
import stat

import pytest
import torch
import yaml

from models.yolo import CONFIG_DIR, DetectionModel
from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from utils.errors import UserError


def checkpoint_of(model: DetectionModel, names: list[str]) -> dict:
    return {
        "epoch": 3,
        "best_fitness": 0.5,
        "model": {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()},
        "ema": model.state_dict(),
        "updates": 10,
        "optimizer": None,
        "opt": {"imgsz": 64},
        "hyp": {"lr0": 0.01},
        "names": names,
        "model_yaml": model.yaml,
        "date": "2026-11-28",
    }


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = DetectionModel("yolov5n.yaml", nc=2).eval()
    path = tmp_path / "weights" / "last.pt"
    save_checkpoint(checkpoint_of(model, ["cat", "dog"]), path)
    loaded = model_from_checkpoint(load_checkpoint(path)).eval()
    assert loaded.names == ["cat", "dog"]
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(image)[0], loaded(image)[0])  # the EMA (fp32) weights are used


def test_backbone_download_is_not_repeated_when_loading(tmp_path, monkeypatch):
    cfg = yaml.safe_load((CONFIG_DIR / "yolov5s-efficientnet-b0.yaml").read_text())
    model = DetectionModel(cfg, nc=1)
    model.yaml["backbone"][0][3][1]["pretrained"] = True  # as if trained from timm's ImageNet weights
    save_checkpoint(checkpoint_of(model, ["cell"]), tmp_path / "best.pt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # any download attempt would now raise
    assert model_from_checkpoint(load_checkpoint(tmp_path / "best.pt")).names == ["cell"]


def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="weights not found"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(UserError, match="not a checkpoint this repository can read"):
        load_checkpoint(garbage)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(1)}, plain)
    with pytest.raises(UserError, match="expected keys 'model' and 'model_yaml'"):
        load_checkpoint(plain)


def test_head_layers_line_up_across_backbones():
    """yolov5s (10 backbone rows) -> an EfficientNet config (5): neck and head tensors move to the same head row."""
    from utils.checkpoints.checkpoint import align_head_layers, transfer_weights

    native = DetectionModel("yolov5s.yaml", nc=3, verbose=False)
    plugged = DetectionModel("yolov5s-efficientnet-b0.yaml", nc=3, verbose=False)
    aligned = align_head_layers(native.state_dict(), native.yaml, plugged.yaml)
    assert torch.equal(aligned["model.5.conv.weight"], native.state_dict()["model.10.conv.weight"])
    assert torch.equal(aligned["model.19.m.0.weight"], native.state_dict()["model.24.m.0.weight"])
    assert "model.0.conv.weight" in aligned  # backbone names are kept
    copied, total = transfer_weights(plugged, aligned)
    plain, _ = transfer_weights(plugged, native.state_dict())
    assert copied > plain + 50
    assert torch.equal(plugged.state_dict()["model.19.m.2.weight"], native.state_dict()["model.24.m.2.weight"])


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_checkpoint_mode_follows_the_umask(tmp_path, umask, expected):
    """A plain open() under the same umask is the independent reference (issue 19: best.pt was 0600)."""
    old = os.umask(umask)
    try:
        save_checkpoint({"epoch": 1}, tmp_path / "best.pt")
        (tmp_path / "plain").touch()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "best.pt").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == expected
