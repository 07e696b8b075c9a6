"""Bad input, made here, gets one line and no traceback, before anything is written.

Each case runs a command line's ``main`` in this process with a mistake a user makes (a number out of range, a
model YAML with an impossible multiplier, a size no machine holds) and checks: exit code 2, exactly one ``error:``
line on stderr naming the flag or key, and no file written anywhere (the project folder given stays empty, and the
repository's own ``runs/`` is untouched).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import detect
import export
import train
import val
from tests.conftest import ROOT


def snapshot(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


def assert_one_line_error(capsys: pytest.CaptureFixture, code: int, *fragments: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture
def nothing_written(tmp_path: Path):
    """The project folder handed to the command, checked empty afterwards; the repository's runs/ unchanged."""
    project = tmp_path / "project"
    before = snapshot(ROOT / "runs")
    yield project
    assert snapshot(project) == set()
    assert snapshot(ROOT / "runs") == before


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--conf-thres", "2"], ["--conf-thres 2.0: expected a number from 0 to 1"]),
        (["--iou-thres", "-0.1"], ["--iou-thres -0.1"]),
        (["--max-det", "-1"], ["--max-det -1: expected an integer of at least 1"]),
        (["--imgsz", "100000"], ["--imgsz 100000: at most 8192", "GB is available"]),
        (["--imgsz", "0"], ["--imgsz 0"]),
        (["--vid-stride", "0"], ["--vid-stride 0"]),
    ],
)
def test_detect_flags(flags, fragments, untrained_weights, shapes_root, nothing_written, capsys):
    source = sorted((shapes_root / "images" / "val").glob("*.jpg"))[0]
    argv = ["--weights", str(untrained_weights), "--source", str(source), "--project", str(nothing_written), *flags]
    assert_one_line_error(capsys, detect.main(argv), *fragments)


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--batch-size", "0"], ["--batch-size 0: expected an integer of at least 1"]),
        (["--conf-thres", "1.5"], ["--conf-thres 1.5"]),
        (["--imgsz", "20000"], ["--imgsz 20000: at most 8192"]),
    ],
)
def test_val_flags(flags, fragments, untrained_weights, shapes_yaml, nothing_written, capsys):
    argv = ["--weights", str(untrained_weights), "--data", str(shapes_yaml), "--project", str(nothing_written),
            "--workers", "0", *flags]  # fmt: skip
    assert_one_line_error(capsys, val.main(argv), *fragments)


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--epochs", "0"], ["--epochs 0: expected an integer of at least 1"]),
        (["--batch-size", "0"], ["--batch-size 0"]),
        (["--imgsz", "100000"], ["--imgsz 100000: at most 8192"]),
        (["--label-smoothing", "2"], ["--label-smoothing 2.0"]),
    ],
)
def test_train_flags(flags, fragments, shapes_yaml, nothing_written, capsys):
    argv = ["--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml", "--project", str(nothing_written),
            "--device", "cpu", *flags]  # fmt: skip
    assert_one_line_error(capsys, train.main(argv), *fragments)


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--opset", "5"], ["--opset 5: expected an integer of at least 11"]),
        (["--batch-size", "0"], ["--batch-size 0"]),
        (["--imgsz", "100000"], ["--imgsz 100000"]),
    ],
)
def test_export_flags(flags, fragments, untrained_weights, tmp_path, capsys):
    weights = tmp_path / "best.pt"
    weights.write_bytes(untrained_weights.read_bytes())
    assert_one_line_error(capsys, export.main(["--weights", str(weights), "--include", "onnx", *flags]), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def bad_model_yaml(folder: Path, line: str) -> Path:
    """yolov5n.yaml with the top-level key of ``line`` replaced by ``line``."""
    key = line.split(":")[0]
    original = (ROOT / "configs" / "models" / "yolov5n.yaml").read_text().splitlines()
    cfg = folder / "bad.yaml"
    cfg.write_text("\n".join(line if text.startswith(f"{key}:") else text for text in original) + "\n")
    return cfg


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ("width_multiple: 0", ["width_multiple 0: expected a number above 0"]),
        ("width_multiple: -0.5", ["width_multiple -0.5"]),
        ("width_multiple: 1000", ["width_multiple 1000: expected a number above 0 and at most 8.0"]),
        ("depth_multiple: 100000", ["depth_multiple 100000"]),
        ("depth_multiple: 'deep'", ["depth_multiple 'deep': expected a number"]),
        ("nc: 0", ["nc 0: expected an integer from 1"]),
    ],
)
def test_model_yaml_numbers(line, fragments, tmp_path, capsys):
    """Checked before a layer is built: a width_multiple of 1000 would try to allocate hundreds of GB."""
    from models import yolo

    cfg = bad_model_yaml(tmp_path, line)
    assert_one_line_error(capsys, yolo.main(["--cfg", str(cfg)]), str(cfg), *fragments)


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--backbone", "efficientnet_bo"], ["unknown backbone 'efficientnet_bo'; did you mean 'efficientnet_b0'?"]),
        (["--weights", "no/such/best.pt"], ["weights not found: no/such/best.pt"]),
        (["--hyp", "no/such/hyp.yaml"], ["no/such/hyp.yaml"]),
        (["--cfg", "configs/models/yolov5q.yaml"], ["yolov5q.yaml"]),
    ],
)
def test_failed_training_start_leaves_no_run_folder(flags, fragments, shapes_yaml, nothing_written, capsys):
    """Issue 19: a typo used to leave runs/train/expN holding only opt.yaml and hyp.yaml."""
    argv = ["--data", str(shapes_yaml), "--cfg", "configs/models/yolov5s-efficientnet-b0.yaml", "--project",
            str(nothing_written), "--device", "cpu", "--epochs", "1", "--workers", "0", *flags]  # fmt: skip
    assert_one_line_error(capsys, train.main(argv), *fragments)


def test_training_names_the_model_yaml_and_writes_nothing(shapes_yaml, nothing_written, tmp_path, capsys):
    cfg = bad_model_yaml(tmp_path, "width_multiple: 1000")
    argv = ["--data", str(shapes_yaml), "--cfg", str(cfg), "--project", str(nothing_written), "--device", "cpu",
            "--epochs", "1", "--workers", "0"]  # fmt: skip
    assert_one_line_error(capsys, train.main(argv), f"error: {cfg}: width_multiple 1000")


@pytest.mark.parametrize(
    ("freeze", "fragment"),
    [("999", "--freeze 999: the model has 25 layers"), ("3 99", "layer 99 does not exist (layers are 0 to 24)")],
)
def test_freeze_outside_the_model(freeze, fragment, shapes_yaml, nothing_written, capsys):
    argv = ["--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml", "--project", str(nothing_written),
            "--device", "cpu", "--epochs", "1", "--workers", "0", "--freeze", *freeze.split()]  # fmt: skip
    assert_one_line_error(capsys, train.main(argv), fragment)


def test_truncated_label_cache_is_rescanned(shapes_root, tmp_path):
    import shutil

    from utils.data.label_scan import scan_labels

    for kind in ("images", "labels"):
        shutil.copytree(shapes_root / kind / "val", tmp_path / kind / "val")
    images = sorted((tmp_path / "images" / "val").glob("*.jpg"))
    first = scan_labels(images, 3, workers=0)
    cache = tmp_path / "labels" / "val.cache"
    cache.write_bytes(cache.read_bytes()[:100])  # cut short, as a killed write or a full disk leaves it
    again = scan_labels(images, 3, workers=0)
    assert again.images == first.images and all((a == b).all() for a, b in zip(again.labels, first.labels))


def test_no_boxes_at_all_keeps_the_anchors(caplog):
    import logging

    import numpy as np

    from models.yolo import DetectionModel
    from utils.train.autoanchor import check_anchors, label_sizes

    head = DetectionModel("yolov5n.yaml", nc=3, verbose=False).head
    before = head.anchors.clone()
    sizes = label_sizes(np.array([[640, 480]] * 3), [np.zeros((0, 5))] * 3, 320, np.random.default_rng(0))
    with caplog.at_level(logging.WARNING):
        assert check_anchors(head, sizes, 4.0) is False
    assert "has no boxes" in caplog.text and (head.anchors == before).all()


def test_hand_edited_checkpoint_is_one_line(untrained_weights, tmp_path, capsys):
    import torch

    checkpoint = torch.load(untrained_weights, weights_only=True)
    for state in (checkpoint["model"], checkpoint["ema"]):
        key = next(k for k in state if k.endswith("conv.weight"))
        state[key] = state[key][:, :1]  # a tensor that no longer fits the YAML's layer
    edited = tmp_path / "edited.pt"
    torch.save(checkpoint, edited)
    code = val.main(["--weights", str(edited), "--data", "data/shapes.yaml", "--project", str(tmp_path / "runs")])
    assert_one_line_error(capsys, code, "checkpoint tensors do not match its model_yaml")


def test_onnx_stride_that_is_not_an_integer(tmp_path):
    from utils.errors import UserError
    from utils.inference.model_files import metadata_stride as _metadata_stride

    assert _metadata_stride("32", tmp_path) == 32 and _metadata_stride(None, tmp_path) == 32
    for bad in ("32.5", "x", "-8"):
        with pytest.raises(UserError, match="metadata 'stride' must be a positive integer"):
            _metadata_stride(bad, tmp_path)


@pytest.mark.parametrize("member", ["../outside.txt", "/abs/outside.txt"])
def test_download_archive_with_a_member_outside_is_refused(member, tmp_path, monkeypatch):
    import io
    import zipfile

    from utils.data import dataset_yaml
    from utils.errors import UserError

    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as archive:
        archive.writestr("inside.txt", "ok")
        archive.writestr(member, "escaped")

    class Response(io.BytesIO):
        def __enter__(self):
            return self

    monkeypatch.setattr(dataset_yaml.urllib.request, "urlopen", lambda url, timeout: Response(payload.getvalue()))
    dest = tmp_path / "datasets" / "x"
    with pytest.raises(UserError, match="outside"):
        dataset_yaml.fetch_and_extract("https://example.invalid/x.zip", dest)
    assert not (tmp_path / "datasets" / "outside.txt").exists() and not (dest / "inside.txt").exists()
