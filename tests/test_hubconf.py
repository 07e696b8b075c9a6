"""hubconf.py through ``torch.hub.load(..., source="local")``, and the README's Python API snippets, run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import hubconf
from utils.errors import UserError
from utils.inference.options import PredictOptions
from utils.inference.predict import predict

ROOT = Path(__file__).resolve().parents[1]
README_WEIGHTS, README_IMAGE, README_REPO = "runs/train/exp/weights/best.pt", "path/to/image.jpg", "path/to/this/repo"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120x200 PNG with three filled shapes."""
    array = np.full((120, 200, 3), 90, np.uint8)
    cv2.circle(array, (40, 60), 25, (0, 200, 255), -1)
    cv2.rectangle(array, (90, 20), (140, 70), (255, 80, 0), -1)
    path = tmp_path_factory.mktemp("hub") / "scene.png"
    cv2.imwrite(str(path), array)
    return path


def test_hub_custom_gives_the_boxes_detect_py_saves(untrained_weights: Path, image: Path, tmp_path: Path) -> None:
    """Compared with the labels predict() (detect.py) writes: box centre/size normalised, confidence, class."""
    model = torch.hub.load(str(ROOT), "custom", path=str(untrained_weights), source="local", device="cpu")
    model.conf, model.max_det = 0.001, 30
    results = model(str(image), size=160)
    options = PredictOptions(untrained_weights, image, imgsz=160, conf_thres=0.001, max_det=30, device="cpu",
                             save_txt=True, save_conf=True, nosave=True, project=tmp_path)  # fmt: skip
    summary = predict(options)
    labels = np.loadtxt(summary.save_dir / "labels" / "scene.txt", ndmin=2)
    ours = results.xywhn[0].numpy()
    assert len(labels) == len(ours) == 30
    np.testing.assert_array_equal(labels[:, 0], ours[:, 5])
    np.testing.assert_allclose(labels[:, 1:5], ours[:, :4], atol=2e-6)  # labels have 6 decimals
    np.testing.assert_allclose(labels[:, 5], ours[:, 4], atol=2e-6)


def test_readme_snippets_run(untrained_weights: Path, image: Path) -> None:
    """The python blocks of the README's "Python API" section, with the weights, image and repo paths put in."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2 and all(README_WEIGHTS in block for block in blocks)
    namespace: dict = {}
    for block in blocks:
        code = block.replace(README_WEIGHTS, str(untrained_weights)).replace(README_IMAGE, str(image))
        exec(compile(code.replace(README_REPO, str(ROOT)), "README.md", "exec"), namespace)
    assert namespace["boxes"].shape[1] == 6 and namespace["results"].files == ["scene.jpg"]
    assert type(namespace["model"]).__name__ == "AutoShape"


@pytest.mark.parametrize(("entry", "where"), [("yolov5s", "releases/download/v7.0/yolov5s.pt"),
                                              ("yolov5s_efficientnet_b0", "train one")])  # fmt: skip
def test_pretrained_true_is_a_one_line_error(entry: str, where: str) -> None:
    with pytest.raises(UserError, match="pretrained=True needs hub weights") as error:
        torch.hub.load(str(ROOT), entry, source="local")
    message = str(error.value)
    assert "\n" not in message and where in message and "custom(path=" in message


def test_untrained_model_from_a_config(image: Path) -> None:
    model = torch.hub.load(str(ROOT), "yolov5n", pretrained=False, classes=3, device="cpu", source="local")
    model.conf = 0.0
    results = model(str(image), size=64)
    assert results.names == ["0", "1", "2"] and len(results.xyxy[0]) > 0
    bare = hubconf.yolov5n(pretrained=False, classes=3, autoshape=False, device="cpu")
    assert bare(torch.zeros(1, 3, 64, 64)).shape[-1] == 5 + 3


def test_every_shipped_config_has_an_entry_point() -> None:
    """And nothing else: torch.hub.list takes every public callable of hubconf.py for an entry point."""
    listed = {name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")}
    expected = {path.stem.replace("-", "_") for path in (ROOT / "configs" / "models").glob("*.yaml")}
    assert listed == expected | {"custom"}
    for name in expected:
        assert getattr(hubconf, name).__name__ == name and "pretrained=False" in getattr(hubconf, name).__doc__


def test_importing_hubconf_runs_nothing() -> None:
    """No sys.path edit and no library import until an entry point is called."""
    code = ("import sys; before = list(sys.path); import hubconf; "
            "assert sys.path == before, 'sys.path changed'; "
            "assert not {'utils', 'models', 'torch'} & set(sys.modules), 'imported at import time'")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]


def test_another_utils_package_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    foreign = type(sys)("utils")
    foreign.__file__ = str(tmp_path / "utils" / "__init__.py")
    monkeypatch.setitem(sys.modules, "utils", foreign)
    with pytest.raises(ImportError, match="a different 'utils' package"):
        hubconf.custom(path="best.pt")
