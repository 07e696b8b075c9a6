"""detect.py --visualize: one feature-map PNG per stage for a C3 config and a timm backbone config."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import pytest
import torch

import detect
from models.yolo import DetectionModel
from tests.helpers import SHAPES_NAMES, write_checkpoint
from utils.errors import UserError
from utils.inference.options import PredictOptions
from utils.inference.predict import predict
from utils.inference.visualize import FeatureVisualizer, feature_grid, stage_names

C3_STAGES = ["Conv", "Conv", "C3", "Conv", "C3", "Conv", "C3", "Conv", "C3", "SPPF", "Conv", "Upsample", "Concat",
             "C3", "Conv", "Upsample", "Concat", "C3", "Conv", "Concat", "C3", "Conv", "Concat", "C3"]  # fmt: skip
TIMM_NECK = {4: "SPPF", 5: "Conv", 6: "Upsample", 7: "Concat", 8: "C3", 9: "Conv", 10: "Upsample", 11: "Concat",
             12: "C3", 13: "Conv", 14: "Concat", 15: "C3", 16: "Conv", 17: "Concat", 18: "C3"}  # fmt: skip
EXPECTED = {
    "c3": {f"stage{i}_{kind}_features.png" for i, kind in enumerate(C3_STAGES)},
    "timm": {f"stage0_Backbone-P{k}_features.png" for k in (3, 4, 5)}
    | {f"stage{i}_{kind}_features.png" for i, kind in TIMM_NECK.items()},
}


@pytest.fixture(scope="module")
def timm_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained yolov5s-efficientnet-b0 checkpoint (the YAML has pretrained: false: no download)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DetectionModel("configs/models/yolov5s-efficientnet-b0.yaml", nc=len(SHAPES_NAMES), verbose=False)
    return write_checkpoint(model, SHAPES_NAMES, tmp_path_factory.mktemp("timm") / "timm.pt")


@pytest.fixture(scope="module")
def two_images(shapes_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("two")
    for path in sorted((shapes_root / "images" / "val").glob("*.jpg"))[:2]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.parametrize("config", ["c3", "timm"])
def test_one_png_per_stage_per_image(config: str, untrained_weights: Path, timm_weights: Path, two_images: Path,
                                     tmp_path: Path) -> None:  # fmt: skip
    weights = untrained_weights if config == "c3" else timm_weights
    options = PredictOptions(weights, two_images, imgsz=64, device="cpu", visualize=True, nosave=True, project=tmp_path)
    summary = predict(options)
    for image in two_images.glob("*.jpg"):
        pngs = sorted((summary.save_dir / image.stem).iterdir())
        assert {p.name for p in pngs} == EXPECTED[config]
        grid = cv2.imread(str(pngs[0]))
        assert grid is not None and grid.ndim == 3 and grid.shape[1] > grid.shape[0]  # 8 columns, 4 rows (32 maps)


def test_stage_rule_skips_index_rows_and_splits_the_backbone() -> None:
    model = DetectionModel("configs/models/yolov5n.yaml", nc=3, verbose=False)
    names = stage_names(model)
    assert sorted(names) == list(range(24)) and names[17] == ["stage17_C3_features"]


def test_hooks_leave_the_output_alone_and_come_off(untrained_weights: Path, tmp_path: Path) -> None:
    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(untrained_weights)).for_inference("cpu")
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        plain = model(images)[0]
        visualizer = FeatureVisualizer(model, tmp_path)
        with visualizer.image("x") as folder:
            hooked = model(images)[0]
            model(images)  # a second pass (as TTA makes) does not replace the first one's maps
    torch.testing.assert_close(plain, hooked, rtol=0, atol=0)
    assert len(list(folder.glob("*.png"))) == 24
    visualizer.remove()
    assert not any(layer._forward_hooks for layer in model.model)


def test_feature_grid_layout() -> None:
    grid = feature_grid(torch.rand(64, 5, 5))  # 32 shown, 8 to a row; 5x5 maps enlarged to 48x48, 2 px gaps
    assert grid.shape == (4 * 50 - 2, 8 * 50 - 2, 3) and grid.dtype.name == "uint8"
    assert feature_grid(torch.zeros(3, 400, 200)).shape == (160, 3 * 82 - 2, 3)  # large maps shrink; flat ones pass


def test_visualize_needs_pt_weights(two_images: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "model.torchscript"
    meta = {"stride": 32, "names": SHAPES_NAMES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.script is deprecated"
        torch.jit.script(torch.nn.Identity()).save(str(path), _extra_files={"config.txt": json.dumps(meta)})
    with pytest.raises(UserError, match="--visualize works with .pt weights only"):
        predict(PredictOptions(path, two_images, imgsz=64, device="cpu", visualize=True, project=tmp_path))
    assert detect.main(["--weights", str(path), "--source", str(two_images), "--visualize", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --visualize works with .pt weights")
