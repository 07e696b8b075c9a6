"""``val.py`` end to end on the shapes data, and its one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import val
from utils.evaluation.collect import shows_per_class_rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_yaml(shapes_root, tmp_path_factory) -> Path:
    """The shapes classes with a val split of 6 images (a .txt list), so CLI runs stay fast."""
    folder = tmp_path_factory.mktemp("tiny")
    images = sorted((shapes_root / "images" / "val").glob("*.jpg"))[:6]
    (folder / "val.txt").write_text("".join(f"{p}\n" for p in images))
    path = folder / "tiny.yaml"
    path.write_text(f"path: {folder}\ntrain: val.txt\nval: val.txt\nnames: [circle, rectangle, triangle]\n")
    return path


def run_main(capsys, *args) -> tuple[int, str, str]:
    code = val.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_plots_and_json(capsys, tmp_path, untrained_weights, tiny_yaml):
    code, out, _ = run_main(capsys, "--weights", untrained_weights, "--data", tiny_yaml, "--imgsz", 128,
                            "--project", tmp_path, "--save-json", "--save-txt", "--save-conf", "--verbose")  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95"]
    assert lines[1].split()[:2] == ["all", "6"]
    assert [line.split()[0] for line in lines[2:5]] == ["circle", "rectangle", "triangle"]
    assert any(line.startswith("Speed:") and "per image at shape (6, 3, " in line for line in lines)
    scored = "pycocotools COCOeval against the labels (ground_truth.json): mAP50-95"
    assert any(line.startswith(scored) for line in lines)
    run = tmp_path / "exp"
    for name in ("confusion_matrix.png", "PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png",
                 "val_batch0_labels.jpg", "val_batch0_pred.jpg", "predictions.json", "ground_truth.json"):  # fmt: skip
        assert (run / name).is_file(), name
    code, out, _ = run_main(capsys, "--weights", untrained_weights, "--data", tiny_yaml, "--imgsz", 128,
                            "--project", tmp_path, "--augment")  # fmt: skip
    assert code == 0 and f"Results saved to {tmp_path / 'exp2'}" in out
    lines = out.splitlines()  # without --verbose too: one row per class below 50 classes, as YOLOv5
    assert len(lines) == 7 and [line.split()[0] for line in lines[2:5]] == ["circle", "rectangle", "triangle"]


def test_per_class_rows_by_default_below_fifty_classes():
    assert shows_per_class_rows(3) and shows_per_class_rows(49) and not shows_per_class_rows(50)


def test_speed_task_times_batches_of_one(capsys, untrained_weights, tiny_yaml, tmp_path):
    code, out, _ = run_main(capsys, "--weights", untrained_weights, "--data", tiny_yaml, "--imgsz", 128, "--task",
                            "speed", "--project", tmp_path)  # fmt: skip
    assert code == 0 and "per image at shape (1, 3, " in out
    assert not (tmp_path / "exp").exists()


def test_missing_weights_exit_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "val.py", "--weights", "no/such/best.pt", "--data", "data/shapes.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: weights not found: no/such/best.pt"]


def test_class_count_mismatch(capsys, untrained_weights, shapes_root, tmp_path):
    yaml = tmp_path / "two.yaml"
    yaml.write_text(f"path: {shapes_root}\ntrain: images/train\nval: images/val\nnames: [circle, rectangle]\n")
    code, _, err = run_main(capsys, "--weights", untrained_weights, "--data", yaml, "--project", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {yaml}: nc=2 but {untrained_weights} was trained with nc=3")


def test_class_name_mismatch(capsys, untrained_weights, shapes_root, tmp_path):
    yaml = tmp_path / "swapped.yaml"
    yaml.write_text(f"path: {shapes_root}\ntrain: images/train\nval: images/val\nnames: [rectangle, circle, x]\n")
    code, _, err = run_main(capsys, "--weights", untrained_weights, "--data", yaml, "--project", tmp_path)
    assert code == 2 and "class 0 is named 'rectangle'" in err and len(err.strip().splitlines()) == 1


def test_missing_and_empty_splits(capsys, untrained_weights, shapes_yaml, shapes_root, tmp_path):
    code, _, err = run_main(capsys, "--weights", untrained_weights, "--data", shapes_yaml, "--task", "test")
    assert code == 2 and "no 'test' split" in err
    (tmp_path / "empty").mkdir()
    yaml = tmp_path / "empty.yaml"
    names = "[circle, rectangle, triangle]"
    yaml.write_text(f"path: {shapes_root}\ntrain: images/train\nval: {tmp_path / 'empty'}\nnames: {names}\n")
    code, _, err = run_main(capsys, "--weights", untrained_weights, "--data", yaml, "--project", tmp_path)
    assert code == 2 and err.startswith("error: ") and "no images" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_half_without_cuda(capsys, untrained_weights, shapes_yaml, monkeypatch):
    """On a CPU without native bf16 (forced here: the CI machine may have AVX512-BF16), a .pt refuses --half."""
    from utils.inference import backends

    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    code, _, err = run_main(capsys, "--weights", untrained_weights, "--data", shapes_yaml, "--half", "--device", "cpu")
    assert code == 2 and "--half needs a CUDA device" in err
