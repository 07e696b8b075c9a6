"""Reading ultralytics/yolov5 checkpoints safely, on files made here without the yolov5 package.

Our own ``DetectionModel`` pickles into the same layout as theirs once two class paths are renamed (our
``models.head.Detect`` is their ``models.yolo.Detect``, our Upsample is ``nn.Upsample``); the files below are
written that way. ``tests/test_official_weights.py`` checks a file made by the package itself.
"""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import types
from copy import deepcopy
from pathlib import Path

import numpy as np
import pytest
import torch

from models.common import Conv, Upsample
from models.head import Detect
from models.yolo import DetectionModel
from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint, transfer_weights
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[3]
THEIR_PATHS = {Detect: ("models.yolo", "Detect"), Upsample: ("torch.nn.modules.upsampling", "Upsample")}


def renaming_pickle_module(renames: dict[type, tuple[str, str]]) -> types.SimpleNamespace:
    """A ``pickle_module`` for ``torch.save`` that writes the classes of ``renames`` under other module paths."""

    class Pickler(pickle._Pickler):
        def save_global(self, obj, name=None):
            if obj not in renames:
                return super().save_global(obj, name)
            module, qualname = renames[obj]
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
            self.memoize(obj)

    return types.SimpleNamespace(__name__="renaming_pickle", Pickler=Pickler)


def save_like_yolov5(checkpoint: dict, path: Path, renames: dict | None = None) -> Path:
    torch.save(checkpoint, path, pickle_module=renaming_pickle_module({**THEIR_PATHS, **(renames or {})}))
    return path


@pytest.fixture(scope="module")
def model() -> DetectionModel:
    torch.manual_seed(0)
    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False).eval()
    model.names = {0: "cat", 1: "dog"}  # v7.0 stores a dict
    return model


def release(model: DetectionModel, **extra) -> dict:
    """What their ``strip_optimizer`` leaves."""
    return {"epoch": -1, "best_fitness": None, "model": deepcopy(model).half(), "ema": None, "updates": None,
            "optimizer": None, "opt": {"imgsz": 640, "hyp": {"lr0": 0.01}}, "date": "2022-11-22", **extra}  # fmt: skip


def test_release_file_converts_to_our_checkpoint(model, tmp_path):
    checkpoint = load_checkpoint(save_like_yolov5(release(model), tmp_path / "yolov5n.pt"))
    assert checkpoint["format"] == "ultralytics/yolov5" and checkpoint["epoch"] == -1
    assert checkpoint["names"] == ["cat", "dog"] and checkpoint["ema"] is None
    assert checkpoint["hyp"] == {"lr0": 0.01} and checkpoint["opt"] == {} and checkpoint["optimizer"] is None
    expected = deepcopy(model).half().state_dict()
    assert list(checkpoint["model"]) == list(expected)
    assert all(torch.equal(checkpoint["model"][k], v) for k, v in expected.items())
    loaded = model_from_checkpoint(checkpoint).eval()
    reference = deepcopy(model).half().float().eval()
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(image)[0], reference(image)[0])


def test_v6_model_class_list_names_and_training_file_with_ema(model, tmp_path):
    ema = deepcopy(model)
    ema.names = ["cat", "dog"]  # v6.x stores a list
    with torch.no_grad():
        next(ema.parameters()).add_(1.0)
    checkpoint = release(model, epoch=7, best_fitness=np.array([0.25]), ema=ema.half(), optimizer={"state": {}})
    path = save_like_yolov5(checkpoint, tmp_path / "last.pt", {DetectionModel: ("models.yolo", "Model")})
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 7 and loaded["best_fitness"] == 0.25 and loaded["names"] == ["cat", "dog"]
    first = next(iter(loaded["ema"]))
    difference = loaded["ema"][first].float() - loaded["model"][first].float()  # model_from_checkpoint uses the EMA
    assert torch.allclose(difference, torch.ones_like(difference), atol=1e-3)


def payloads(marker: Path) -> list[tuple[str, object, tuple]]:
    """(the global the file names, the callable, its arguments): each would create ``marker`` if it ran."""
    opener = f"open({str(marker)!r}, 'w')"
    return [
        ("posix.system", os.system, (f"touch {marker}",)),
        ("builtins.exec", builtins.exec, (opener,)),
        ("builtins.eval", builtins.eval, (opener,)),
        ("subprocess.call", subprocess.call, (["touch", str(marker)],)),
        ("builtins.getattr", getattr, (str(marker), "upper")),  # harmless here, but the way to reach os.system
    ]


@pytest.mark.parametrize("index", range(5), ids=["os.system", "exec", "eval", "subprocess.call", "getattr"])
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_code_in_a_pickle_is_refused_and_never_runs(index, zip_format, tmp_path):
    marker = tmp_path / "pwned"
    global_name, function, args = payloads(marker)[index]

    class Payload:
        def __reduce__(self):
            return function, args

    path = tmp_path / "evil.pt"
    torch.save({"model": Payload(), "model_yaml": {}}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UserError, match=rf"evil\.pt: refused to load {global_name}: ") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value) and not marker.exists()


def test_no_unrestricted_torch_load_in_the_repository():
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        and "weights_only=" + "False" in path.read_text(errors="ignore")
    ]
    assert offenders == []


def test_pickled_module_classes_outside_the_list_are_refused(model, tmp_path):
    unknown = save_like_yolov5(release(model), tmp_path / "v5.pt", {Conv: ("models.common", "Focus")})
    with pytest.raises(UserError, match=r"refused to load models\.common\.Focus: .*YOLOv5 v6\.0\+"):
        load_checkpoint(unknown)
    segment = save_like_yolov5(
        release(model), tmp_path / "seg.pt", {DetectionModel: ("models.yolo", "SegmentationModel")}
    )
    with pytest.raises(UserError, match=r"refused to load models\.yolo\.SegmentationModel"):
        load_checkpoint(segment)


def test_our_classes_are_not_on_the_list(model, tmp_path):
    """Our own files never pickle modules; one that does (our classes by their real paths) is refused."""
    path = tmp_path / "ours_pickled.pt"
    torch.save({"model": deepcopy(model), "model_yaml": {}}, path)
    with pytest.raises(UserError, match=r"refused to load models\.(common\.Upsample|head\.Detect)"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_their_yaml_are_one_line_errors(model, tmp_path):
    wrong = deepcopy(model)
    wrong.yaml = {**model.yaml, "width_multiple": 0.5}  # a yolov5s yaml on yolov5n weights
    with pytest.raises(UserError, match=r"the 'model' tensors do not fit the model its yaml describes \(size"):
        load_checkpoint(save_like_yolov5(release(wrong), tmp_path / "wrong.pt"))
    unsupported = deepcopy(model)
    unsupported.yaml = {**model.yaml, "activation": "nn.GELU()"}  # YOLOv5 evaluates any expression; we do not
    with pytest.raises(UserError, match=r"activation 'nn.GELU\(\)': unknown activation"):
        load_checkpoint(save_like_yolov5(release(unsupported), tmp_path / "act.pt"))


def test_transfer_to_another_class_count(model, tmp_path):
    checkpoint = load_checkpoint(save_like_yolov5(release(model), tmp_path / "yolov5n.pt"))
    target = DetectionModel("yolov5n.yaml", nc=3, verbose=False)
    copied, total = transfer_weights(target, {k: v.float() for k, v in checkpoint["model"].items()})
    assert (copied, total) == (total - 6, len(target.state_dict()))  # all but the 3 Detect output convs (w, b)
