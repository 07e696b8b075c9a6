"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BCCD = ROOT / ".." / "shared" / "datasets" / "bccd" / "BCCD"


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
def shapes_weights(tmp_path_factory: pytest.TempPathFactory, shapes_yaml: Path) -> Path:
    """best.pt of yolov5n trained briefly on the shapes data (about 2 minutes on 2 CPU cores).

    Adam, a nominal batch of 16 and no mosaic (tests/data/hyp.quick.yaml) make 25 epochs of 128 images at 160 px
    enough for mAP@0.5 around 0.2: a real, if weak, detector for the val, detect and export tests.
    """
    from utils.train.options import TrainOptions
    from utils.train.trainer import Trainer

    project = tmp_path_factory.mktemp("train")
    options = TrainOptions(
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
    Trainer(options).fit()
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
    from utils.train.options import TrainOptions
    from utils.train.trainer import Trainer

    project = tmp_path_factory.mktemp("bccd_train")
    options = TrainOptions(
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
    Trainer(options).fit()
    return project / "exp" / "weights" / "best.pt"
