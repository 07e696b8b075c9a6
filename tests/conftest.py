"""Fixtures shared by every test folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BCCD = ROOT / ".." / "shared" / "datasets" / "bccd" / "BCCD"


def train_apart(**options: object) -> None:
    """``Trainer(TrainOptions(**options)).fit()`` in a fresh interpreter with one torch thread, as in the suite.

    Why apart: a session fixture trains whenever its first user runs, and by then earlier tests may have left
    OpenVINO and ONNX Runtime thread pools and another torch thread count in this process; its DataLoader workers
    would fork from that. (The SIGSEGV first blamed on those forks was OpenVINO's per-Core signal stack, fixed by
    ``utils.inference.openvino_runtime.shared_core``.)
    """
    code = (f"import sys, torch; sys.path.insert(0, {str(ROOT)!r}); torch.set_num_threads(1)\n"
            "from utils.train.options import TrainOptions\nfrom utils.train.trainer import Trainer\n"
            f"Trainer(TrainOptions(**{options!r})).fit()\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"training for a fixture failed:\n{done.stderr[-3000:]}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``exhaustive`` tests unless the ``-m`` expression names that marker.

    A ``-m`` in addopts would be replaced by any ``-m`` on the command line, so ``pytest -m "not slow"`` would run
    the exhaustive matrices too. Here ``pytest``, ``-m "not slow"`` and ``-m slow`` leave them out, and
    ``-m exhaustive`` or ``-m "slow or exhaustive"`` select them as the expression says.
    """
    if re.search(r"\bexhaustive\b", config.getoption("markexpr") or ""):
        return
    dropped = [item for item in items if item.get_closest_marker("exhaustive")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("exhaustive")]


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread for the whole suite: on a 2-core machine, two torch threads next to dataloader
    workers oversubscribe the cores and a small forward pass can take 100x longer."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in shapes dataset (128 train / 32 val, classes circle, rectangle, triangle), built once."""
    from utils.data.synthetic import build_shapes

    return build_shapes(tmp_path_factory.mktemp("data") / "shapes")


@pytest.fixture(scope="session")
def shapes_yaml(shapes_root: Path) -> Path:
    """A dataset YAML pointing at :func:`shapes_root`."""
    path = shapes_root / "shapes.yaml"
    path.write_text(
        f"path: {shapes_root}\ntrain: images/train\nval: images/val\nnames: [circle, rectangle, triangle]\n"
    )
    return path


@pytest.fixture(scope="session")
def untrained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``untrained.pt``: yolov5n for the shapes classes (nc=3, names circle, rectangle, triangle) at its seeded
    initial weights, in the layout of a finished training run (``tests.helpers.write_checkpoint``). Built in about
    a second and read-only for tests.

    It loads wherever ``best.pt`` does (detect, val, export, ``--weights`` of train.py) but detects nothing: its
    scores are near the head's prior (under 0.01), so tests that want boxes from it pass ``conf_thres=0.001``. For
    error messages, CLI plumbing and file layout; a test of detection quality takes :func:`shapes_weights`.
    """
    import torch

    from models.yolo import DetectionModel
    from tests.helpers import SHAPES_NAMES, write_checkpoint

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DetectionModel("configs/models/yolov5n.yaml", nc=len(SHAPES_NAMES), verbose=False)
    return write_checkpoint(model, SHAPES_NAMES, tmp_path_factory.mktemp("untrained") / "untrained.pt")


@pytest.fixture(scope="session")
def shapes_weights(tmp_path_factory: pytest.TempPathFactory, shapes_yaml: Path) -> Path:
    """best.pt of yolov5n trained briefly on the shapes data (about 2 minutes on 2 CPU cores).

    Adam, a nominal batch of 16 and no mosaic (tests/data/hyp.quick.yaml) make 25 epochs of 128 images at 160 px
    enough for mAP@0.5 around 0.2: a real, if weak, detector for the val, detect and export tests.
    """
    project = tmp_path_factory.mktemp("train")
    train_apart(
        data=str(shapes_yaml),
        cfg="configs/models/yolov5n.yaml",
        hyp=str(ROOT / "tests" / "data" / "hyp.quick.yaml"),
        epochs=25,
        imgsz=160,
        batch_size=16,
        nbs=16,
        optimizer="Adam",
        device="cpu",
        workers=1,
        noplots=True,
        noval=True,
        project=str(project),
        seed=0,
    )
    return project / "exp" / "weights" / "best.pt"


@pytest.fixture(scope="session")
def bccd_yolo(tmp_path_factory: pytest.TempPathFactory):
    """BCCD converted to YOLO layout (out_dir, conversion report); skipped when ../shared is absent."""
    if not (BCCD / "Annotations").is_dir():
        pytest.skip(f"BCCD not found at {BCCD}")
    from utils.data.convert import convert_voc

    out = tmp_path_factory.mktemp("bccd") / "bccd"
    return out, convert_voc(BCCD, out)


@pytest.fixture(scope="session")
def bccd_weights(tmp_path_factory: pytest.TempPathFactory, bccd_yolo) -> Path:
    """best.pt of yolov5n trained on BCCD itself for 3 short epochs at 160 px: an early but real blood-cell
    detector for the evaluator and export tests."""
    project = tmp_path_factory.mktemp("bccd_train")
    train_apart(
        data=str(bccd_yolo[0] / "data.yaml"),
        cfg="configs/models/yolov5n.yaml",
        epochs=3,
        imgsz=160,
        batch_size=16,
        device="cpu",
        workers=1,
        noplots=True,
        noval=True,
        project=str(project),
        noautoanchor=True,
        seed=0,
    )
    return project / "exp" / "weights" / "best.pt"
