"""End-to-end training runs on the built-in shapes data (tiny images, CPU)."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from utils.train.results import read_rows

pytestmark = pytest.mark.slow
FAST = ["--imgsz", "64", "--batch-size", "16", "--device", "cpu", "--workers", "0", "--noautoanchor"]


def free_port() -> int:
    """A TCP port nothing listens on now, for torchrun's rendezvous (a fixed one collides with parallel runs)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def saved_epoch(checkpoint: Path) -> int:
    """The epoch in ``checkpoint`` (written atomically, so never read half-written); -2 while there is none."""
    return torch.load(checkpoint, weights_only=True)["epoch"] if checkpoint.is_file() else -2


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 300) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail if ``process`` exits first or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"train.py exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.02)


def train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_acceptance_run_writes_the_run_folder(shapes_yaml, tmp_path):
    result = train(
        "--data",
        str(shapes_yaml),
        "--cfg",
        "configs/models/yolov5n.yaml",
        "--epochs",
        "3",
        "--imgsz",
        "160",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--workers",
        "2",
        "--project",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "exp"
    log = result.stderr.splitlines()
    banner = next(line for line in log if line.startswith("yolov5-backbones "))
    assert f"torch {torch.__version__}" in banner and banner.endswith(f"-> {run}")  # the folder before it exists
    assert any(line.startswith("yolov5n summary: ") and line.endswith("GFLOPs") for line in log)
    assert any(line.startswith("3 epochs completed in ") and line.endswith(" hours.") for line in log)
    final = log[log.index(f"Validating {run / 'weights' / 'best.pt'}...") :]  # then a progress bar, then the table
    first = next(i for i, line in enumerate(final) if line.split()[:1] == ["all"])
    assert [line.split()[0] for line in final[first : first + 4]] == ["all", "circle", "rectangle", "triangle"]
    for name in (
        "opt.yaml",
        "hyp.yaml",
        "results.csv",
        "results.png",
        "labels.jpg",
        "train_batch0.jpg",
        "confusion_matrix.png",
        "PR_curve.png",
        "weights/last.pt",
        "weights/best.pt",
    ):
        assert (run / name).is_file(), name
    assert [row["epoch"] for row in read_rows(run / "results.csv")] == [0, 1, 2]
    for name in ("last.pt", "best.pt"):
        checkpoint = torch.load(run / "weights" / name, weights_only=True)  # plain data only
        assert checkpoint["optimizer"] is None  # stripped from the final files
        assert checkpoint["names"] == ["circle", "rectangle", "triangle"]
        assert next(iter(checkpoint["model"].values())).dtype == torch.float16
    assert torch.load(run / "weights" / "last.pt", weights_only=True)["epoch"] == 2
    best_epoch = torch.load(run / "weights" / "best.pt", weights_only=True)["epoch"]
    fitness = [0.1 * r["metrics/mAP_0.5"] + 0.9 * r["metrics/mAP_0.5:0.95"] for r in read_rows(run / "results.csv")]
    assert fitness[best_epoch] == pytest.approx(max(fitness), abs=1e-4)  # best.pt is the fittest epoch


def test_resume_after_sigkill_continues_the_same_run(shapes_yaml, tmp_path):
    command = [
        sys.executable,
        "train.py",
        "--data",
        str(shapes_yaml),
        "--cfg",
        "configs/models/yolov5n.yaml",
        "--epochs",
        "4",
        "--project",
        str(tmp_path),
        *FAST,
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    results, last = tmp_path / "exp" / "results.csv", tmp_path / "exp" / "weights" / "last.pt"
    # epoch 1's checkpoint is written after its results row: from then on the run is in its third epoch
    wait_until(lambda: saved_epoch(last) == 1, process, "checkpoint of epoch 1")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 2 <= len(read_rows(results)) < 4  # 3 only if the third epoch ended within one poll
    result = train("--resume", str(tmp_path / "exp" / "weights" / "last.pt"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Resuming" in result.stderr
    assert [row["epoch"] for row in read_rows(results)] == [0, 1, 2, 3]
    assert not (tmp_path / "exp2").exists()
    assert torch.load(tmp_path / "exp" / "weights" / "last.pt", weights_only=True)["epoch"] == 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly(signum, shapes_yaml, tmp_path):
    """No traceback, exit 130, one line; no temporary file left; last.pt readable and resumable."""
    command = [sys.executable, "train.py", "--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml",
               "--epochs", "50", "--project", str(tmp_path), *FAST]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # SIGINT back to its default in the child: a test run started as a background job (`pytest &`, as CI may be)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler, as for any background job
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    last = tmp_path / "exp" / "weights" / "last.pt"
    wait_until(lambda: saved_epoch(last) >= 0, process, "checkpoint of epoch 0")
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted: ")
    assert not list((tmp_path / "exp" / "weights").glob(".*.tmp"))
    assert saved_epoch(last) >= 0


def test_resume_with_more_epochs_extends_a_finished_run(shapes_yaml, tmp_path):
    common = ["--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml", "--project", str(tmp_path), *FAST]
    assert train(*common, "--epochs", "1", "--noval").returncode == 0
    last = tmp_path / "exp" / "weights" / "last.pt"
    refused = train("--resume", str(last))
    assert refused.returncode == 2 and "--epochs N with a larger N" in refused.stderr
    extended = train("--resume", str(last), "--epochs", "3")
    assert extended.returncode == 0, extended.stderr[-2000:]
    assert [row["epoch"] for row in read_rows(tmp_path / "exp" / "results.csv")] == [0, 1, 2]


def test_resume_writes_only_beside_the_checkpoint(shapes_yaml, tmp_path):
    """A moved run folder resumes where it is now, and a save_dir stored in the checkpoint (stale, or crafted to point
    at another folder) is ignored: nothing is written there."""
    common = [
        "--data",
        str(shapes_yaml),
        "--cfg",
        "configs/models/yolov5n.yaml",
        "--project",
        str(tmp_path / "a"),
        *FAST,
    ]
    assert train(*common, "--epochs", "1", "--noval").returncode == 0
    (tmp_path / "a" / "exp").rename(tmp_path / "moved")
    last = tmp_path / "moved" / "weights" / "last.pt"
    checkpoint = torch.load(last, weights_only=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "results.csv").write_text("keep me\n")
    checkpoint["opt"]["save_dir"] = str(victim)
    torch.save(checkpoint, last)
    resumed = train("--resume", str(last), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (
        sorted(p.name for p in victim.iterdir()) == ["results.csv"]
        and (victim / "results.csv").read_text() == "keep me\n"
    )
    assert not (tmp_path / "a" / "exp").exists()
    assert [row["epoch"] for row in read_rows(tmp_path / "moved" / "results.csv")] == [0, 1]
    assert (tmp_path / "moved" / "weights" / "best.pt").is_file()
    assert torch.load(last, weights_only=True)["opt"]["save_dir"] == str((tmp_path / "moved").resolve())


def test_same_seed_gives_the_same_run_on_bccd(bccd_yolo, tmp_path):
    """Two seed-0 runs give a byte-identical results.csv and identical weights. BCCD, not the shapes data: its ~13
    boxes per image make the loss write several targets into one cell, where PyTorch's default CPU kernels (indexed
    writes and their gradients) depend on thread timing; the shapes data repeats even without the fix."""
    data = bccd_yolo[0] / "data.yaml"
    common = ["--data", str(data), "--cfg", "configs/models/yolov5n.yaml", "--weights", "", "--epochs", "1",
              "--imgsz", "256", "--batch-size", "16", "--workers", "2", "--seed", "0", "--noplots", "--device", "cpu",
              "--project", str(tmp_path)]  # fmt: skip
    runs = []
    for name in ("first", "second"):
        command = [sys.executable, "train.py", *common, "--name", name]  # default torch threads: the drift needs >1
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(tmp_path / name)
    assert (runs[0] / "results.csv").read_bytes() == (runs[1] / "results.csv").read_bytes()
    first, second = (torch.load(run / "weights" / "last.pt", weights_only=True)["model"] for run in runs)
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def test_single_cls_trains_every_class_as_one(shapes_yaml, tmp_path):
    """As YOLOv5's --single-cls: a three-class dataset trains a one-class model named 'item'."""
    done = train("--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml", "--epochs", "1", "--single-cls",
                 "--project", str(tmp_path), *FAST)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    best = torch.load(tmp_path / "exp" / "weights" / "best.pt", weights_only=True)
    assert best["names"] == ["item"] and best["model_yaml"]["nc"] == 1


def test_two_process_ddp_on_cpu(shapes_yaml, tmp_path):
    """torchrun with gloo: both ranks train, rank 0 alone writes one run folder."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "train.py",
        "--data",
        str(shapes_yaml),
        "--cfg",
        "configs/models/yolov5n.yaml",
        "--epochs",
        "2",
        "--project",
        str(tmp_path),
        *FAST,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]
    assert [row["epoch"] for row in read_rows(tmp_path / "exp" / "results.csv")] == [0, 1]
    assert torch.load(tmp_path / "exp" / "weights" / "last.pt", weights_only=True)["epoch"] == 1


def test_freeze_backbone_keeps_batchnorm_statistics(shapes_yaml, tmp_path):
    from models.yolo import DetectionModel
    from tests.helpers import SHAPES_NAMES, randomise_batchnorm, write_checkpoint
    from utils.checkpoints.checkpoint import half_state_dict

    model = DetectionModel("configs/models/yolov5s-efficientnet-b0.yaml", nc=3, verbose=False)
    randomise_batchnorm(model)
    start = write_checkpoint(model, SHAPES_NAMES, tmp_path / "start.pt")
    result = train(
        "--data",
        str(shapes_yaml),
        "--weights",
        str(start),
        "--freeze",
        "backbone",
        "--epochs",
        "1",
        "--project",
        str(tmp_path),
        "--noval",
        *FAST,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Transferred" in result.stderr
    trained = torch.load(tmp_path / "exp" / "weights" / "last.pt", weights_only=True)["model"]
    before = half_state_dict(model)
    backbone = [k for k in before if k.startswith("model.0.") and "running" in k]
    neck = [k for k in before if k.startswith("model.5.") and "running" in k]
    assert backbone and all(torch.equal(trained[k], before[k]) for k in backbone)
    assert any(not torch.equal(trained[k], before[k]) for k in neck)  # the neck did train


def test_backbone_recipe_freezes_then_trains_the_backbone_slowly(shapes_yaml, tmp_path):
    """frozen_epochs 1: epoch 0 leaves every backbone tensor as it was (BatchNorm statistics too) while the neck
    trains; the resumed epoch 1 moves the backbone's statistics but, at lr0 x 1e-4, barely its weights."""
    import yaml

    from models.yolo import DetectionModel
    from tests.helpers import SHAPES_NAMES, randomise_batchnorm, write_checkpoint
    from utils.checkpoints.checkpoint import half_state_dict

    cfg = yaml.safe_load((ROOT / "configs" / "models" / "yolov5n.yaml").read_text())
    cfg["backbone_recipe"] = {"lr_multiplier": 1e-4, "frozen_epochs": 1}
    cfg_file = tmp_path / "yolov5n-recipe.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    model = DetectionModel(cfg, nc=3, verbose=False)
    randomise_batchnorm(model)
    start = write_checkpoint(model, SHAPES_NAMES, tmp_path / "start.pt")
    common = ["--project", str(tmp_path), "--noval", *FAST]
    first = train("--data", str(shapes_yaml), "--cfg", str(cfg_file), "--weights", str(start), "--epochs", "1", *common)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "the backbone (10 layers) trains at lr0 x 0.0001, frozen for epochs 0-0" in first.stderr
    recorded = yaml.safe_load((tmp_path / "exp" / "opt.yaml").read_text())["backbone_recipe"]
    assert recorded == {"lr_multiplier": 1e-4, "frozen_epochs": 1}
    before = half_state_dict(model)
    backbone = [k for k in before if int(k.split(".")[1]) < 10 and "num_batches" not in k]
    neck = [k for k in before if int(k.split(".")[1]) in range(10, 24) and "num_batches" not in k]
    after_0 = torch.load(tmp_path / "exp" / "weights" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(after_0[k], before[k]) for k in backbone)
    assert any(not torch.equal(after_0[k], before[k]) for k in neck)

    last = tmp_path / "exp" / "weights" / "last.pt"
    second = train("--resume", str(last), "--epochs", "2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Epoch 1: the backbone is unfrozen" in second.stderr
    after_1 = torch.load(last, weights_only=True)["model"]

    def largest_change(keys: list[str], kind: str) -> float:
        return max((after_1[k].float() - after_0[k].float()).abs().max().item() for k in keys if kind in k)

    assert largest_change(backbone, "running_mean") > 1e-3  # train mode again: statistics move
    # seen: 1.2e-7 (fp16 rounding) against 2.0e-4 in the neck; at lr_multiplier 1 both are of one order
    assert largest_change(backbone, "conv.weight") * 100 < largest_change(neck, "conv.weight")


def test_user_mistakes_are_one_line(shapes_yaml, tmp_path):
    missing = train("--data", str(tmp_path / "nope.yaml"), "--cfg", "configs/models/yolov5n.yaml",
                    "--project", str(tmp_path / "runs"), *FAST)  # fmt: skip
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "runs").exists()  # no empty run folder left behind
    native = train(
        "--data",
        str(shapes_yaml),
        "--cfg",
        "configs/models/yolov5n.yaml",
        "--backbone",
        "darknet53",
        "--project",
        str(tmp_path),
        *FAST,
    )
    assert native.returncode == 2 and "has no Backbone row" in native.stderr
    (tmp_path / "a_file").write_text("")
    unwritable = train("--data", str(shapes_yaml), "--cfg", "configs/models/yolov5n.yaml",
                       "--project", str(tmp_path / "a_file" / "runs"), *FAST)  # fmt: skip
    assert unwritable.returncode == 1 and "Traceback" not in unwritable.stderr
    weights_dir = tmp_path / "a_file" / "runs" / "exp" / "weights"
    assert unwritable.stderr.strip().splitlines()[-1] == f"error: {weights_dir}: Not a directory"


def test_brief_training_beats_an_untrained_model(shapes_weights, untrained_weights, shapes_root):
    """The shared fixture (25 short epochs) must detect far better than the same model untrained."""
    from tests.helpers import SHAPES_NAMES
    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
    from utils.data.dataloader import create_dataloader
    from utils.data.options import LoaderOptions
    from utils.evaluation.evaluate import evaluate

    options = LoaderOptions(160, 16, 32, rect=True, pad=0.5, workers=0)
    loader, _ = create_dataloader(shapes_root / "images" / "val", options)
    trained = evaluate(model_from_checkpoint(load_checkpoint(shapes_weights)), loader, SHAPES_NAMES).metrics
    untrained = evaluate(model_from_checkpoint(load_checkpoint(untrained_weights)), loader, SHAPES_NAMES).metrics
    assert trained.map50 > 0.1 and trained.map50 > 10 * untrained.map50
    assert trained.map > 5 * untrained.map
