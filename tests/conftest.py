"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BCCD = ROOT / ".." / "shared" / "datasets" / "bccd" / "BCCD"


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in shapes dataset (128 train / 32 val, classes circle, rectangle, triangle), built once."""
    from utils.synthetic import build_shapes

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
def shapes_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of ours for yolov5n with the three shapes classes.

    For now an untrained model with YOLOv5's bias priors; it becomes a briefly trained one once the trainer
    lands, under the same name, so tests written against it keep working.
    """
    from models.yolo import DetectionModel
    from utils.checkpoint import save_checkpoint

    model = DetectionModel("yolov5n.yaml", nc=3)
    path = tmp_path_factory.mktemp("weights") / "shapes_yolov5n.pt"
    state = model.state_dict()
    save_checkpoint(
        {
            "epoch": -1,
            "best_fitness": 0.0,
            "model": {k: v.half() if v.is_floating_point() else v for k, v in state.items()},
            "ema": None,
            "updates": 0,
            "optimizer": None,
            "opt": {"imgsz": 160},
            "hyp": {},
            "names": ["circle", "rectangle", "triangle"],
            "model_yaml": model.yaml,
            "date": "",
        },
        path,
    )
    return path


@pytest.fixture(scope="session")
def bccd_yolo(tmp_path_factory: pytest.TempPathFactory):
    """BCCD converted to YOLO layout (out_dir, conversion report); skipped when ../shared is absent."""
    if not (BCCD / "Annotations").is_dir():
        pytest.skip(f"BCCD not found at {BCCD}")
    from utils.convert import convert_voc

    out = tmp_path_factory.mktemp("bccd") / "bccd"
    return out, convert_voc(BCCD, out)
