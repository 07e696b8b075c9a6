"""The Python API (``utils.inference.api.load`` -> ``AutoShape`` -> ``Detections``): inputs, box formats, saving.

Most tests run the untrained checkpoint at ``conf = 0.001`` (boxes exist, nothing to learn); the ONNX comparison
needs a trained model, whose boxes do not sit on near-ties of score, and is slow.
"""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from utils.boxes import xywh_to_xyxy
from utils.errors import UserError
from utils.exporters.options import ExportOptions
from utils.exporters.pipeline import export
from utils.inference.api import AutoShape, load
from utils.inference.backends import DetectMultiBackend
from utils.inference.predict import detect_image, input_shape
from utils.inference.results import XYWH_COLUMNS, XYXY_COLUMNS

SIZE = 160


@pytest.fixture(scope="module")
def backend(untrained_weights: Path) -> DetectMultiBackend:
    """Loaded once; each test wraps it in a fresh ``AutoShape`` so attribute changes do not leak."""
    return load(untrained_weights, device="cpu", autoshape=False)


@pytest.fixture
def model(backend: DetectMultiBackend) -> AutoShape:
    wrapped = AutoShape(backend)
    wrapped.conf, wrapped.max_det = 0.001, 20
    return wrapped


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120x200 BGR image with a circle, a rectangle and a triangle, saved as PNG (lossless: file == array)."""
    image = np.full((120, 200, 3), 90, np.uint8)
    cv2.circle(image, (40, 60), 25, (0, 200, 255), -1)
    cv2.rectangle(image, (90, 20), (140, 70), (255, 80, 0), -1)
    cv2.fillPoly(image, [np.array([[150, 110], [195, 110], [172, 70]])], (40, 220, 40))
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    cv2.imwrite(str(path), image)
    return path


def test_path_numpy_bgr_and_pil_rgb_give_the_same_boxes(model: AutoShape, scene: Path) -> None:
    bgr = cv2.imread(str(scene))
    results = model([str(scene), bgr, Image.open(scene)], size=SIZE)
    assert len(results) == 3 and len(results.xyxy) == 3
    assert results.files == ["scene.jpg", "image1.jpg", "scene.jpg"]  # a PIL image keeps its file name
    assert len(results.pred[0]) > 0
    for boxes in results.xyxy[1:]:
        torch.testing.assert_close(boxes, results.xyxy[0])
    np.testing.assert_array_equal(results.ims[1], bgr[:, :, ::-1])  # ims are RGB, as YOLOv5's


def test_one_image_gives_one_result_and_the_boxes_of_detect_image(model: AutoShape, backend, scene: Path) -> None:
    bgr = cv2.imread(str(scene))
    results = model(bgr, size=SIZE)
    expected, _, tensor_shape = detect_image(backend, bgr, input_shape(SIZE, backend.stride, None), 0.001, max_det=20)
    assert len(results) == 1 and results.s == tensor_shape == (1, 3, 96, 160)
    np.testing.assert_array_equal(results.xyxy[0].numpy(), expected)


def test_box_formats_agree(model: AutoShape, scene: Path) -> None:
    results = model(str(scene), size=SIZE)
    xyxy, xywh = results.xyxy[0], results.xywh[0]
    gain = torch.tensor([200, 120, 200, 120, 1, 1])
    assert xyxy.shape[1] == 6 and xyxy.dtype == torch.float32
    torch.testing.assert_close(xywh_to_xyxy(xywh[:, :4]), xyxy[:, :4])
    torch.testing.assert_close(xywh[:, 4:], xyxy[:, 4:])
    torch.testing.assert_close(results.xyxyn[0] * gain, xyxy)
    torch.testing.assert_close(results.xywhn[0] * gain, xywh)
    assert bool((results.xyxyn[0][:, :4] <= 1).all()) and results.names == ["circle", "rectangle", "triangle"]


def test_nms_attributes_are_used(model: AutoShape, scene: Path) -> None:
    model.classes, model.max_det = [1], 5
    boxes = model(str(scene), size=SIZE).xyxy[0]
    assert 0 < len(boxes) <= 5 and set(boxes[:, 5].tolist()) == {1.0}
    model.conf = 0.9  # above anything the untrained head scores
    assert len(model(str(scene), size=SIZE).xyxy[0]) == 0


def test_summary_len_and_tolist(model: AutoShape, scene: Path, capsys: pytest.CaptureFixture) -> None:
    results = model([str(scene), str(scene)], size=SIZE)
    results.print()
    printed = capsys.readouterr().out
    assert printed.startswith("image 1/2: 120x200 ") and "Speed: " in printed and str(results) in printed
    assert repr(results).startswith("<Detections: 2 images>")
    singles = results.tolist()
    assert [len(r) for r in singles] == [1, 1] and torch.equal(singles[1].xyxy[0], results.xyxy[1])


def test_save_increments_the_run_folder(model: AutoShape, scene: Path, tmp_path: Path) -> None:
    results = model([str(scene), cv2.imread(str(scene))], size=SIZE)
    first = results.save(save_dir=tmp_path / "exp")
    second = results.save(save_dir=tmp_path / "exp")
    assert (first, second) == (tmp_path / "exp", tmp_path / "exp2")
    assert sorted(p.name for p in second.iterdir()) == ["image1.jpg", "scene.jpg"]
    saved = cv2.imread(str(second / "image1.jpg"))
    assert saved.shape == (120, 200, 3) and not np.array_equal(saved, cv2.imread(str(scene)))  # boxes drawn


def test_crop_returns_and_saves_the_boxes(model: AutoShape, scene: Path, tmp_path: Path) -> None:
    model.max_det = 3
    results = model(str(scene), size=SIZE)
    crops = results.crop(save=False)
    assert len(crops) == len(results.pred[0]) == 3 and not tmp_path.joinpath("exp").exists()
    first = crops[0]
    assert set(first) == {"box", "conf", "cls", "label", "im"}
    assert first["label"] == f"{results.names[int(first['cls'])]} {float(first['conf']):.2f}"
    assert first["im"].ndim == 3 and first["im"].shape[2] == 3
    results.crop(save=True, save_dir=tmp_path / "exp")
    written = sorted((tmp_path / "exp" / "crops").rglob("*.jpg"))
    assert len(written) == sum(c["im"].size > 0 for c in crops)


def test_render_draws_into_ims(model: AutoShape, scene: Path) -> None:
    results = model(str(scene), size=SIZE)
    original = results.ims[0].copy()
    rendered = results.render()
    assert rendered is results.ims and rendered[0].shape == original.shape
    assert not np.array_equal(rendered[0], original)


def test_show_without_a_display_warns_and_returns(model: AutoShape, scene: Path, monkeypatch, caplog) -> None:
    def headless(window: str, image: np.ndarray) -> None:
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(cv2, "imshow", headless)
    model(str(scene), size=SIZE).show()
    assert "needs a display" in caplog.text


def test_pandas_needs_pandas(model: AutoShape, scene: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(UserError, match="pip install pandas") as error:
        model(str(scene), size=SIZE).pandas()
    assert "\n" not in str(error.value)


def test_pandas_gives_yolov5s_columns(model: AutoShape, scene: Path, monkeypatch) -> None:
    class DataFrame:
        def __init__(self, rows: list, columns: list[str]) -> None:
            self.rows, self.columns = rows, columns

    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(DataFrame=DataFrame))
    results = model(str(scene), size=SIZE)
    frames = results.pandas()
    assert frames.xyxy[0].columns == XYXY_COLUMNS and frames.xywhn[0].columns == XYWH_COLUMNS
    first = frames.xyxy[0].rows[0]
    assert first[:5] == pytest.approx(results.xyxy[0][0, :5].tolist()) and first[6] == results.names[first[5]]
    assert isinstance(results.xyxy[0], torch.Tensor)  # the original is left as it was


def test_other_arrays_and_a_tensor(model: AutoShape, backend, scene: Path) -> None:
    bgr = cv2.imread(str(scene))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    results = model([gray, cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), bgr.transpose(2, 0, 1)], size=SIZE)
    assert [im.shape for im in results.ims] == [(120, 200, 3)] * 3
    torch.testing.assert_close(results.xyxy[2], model(bgr, size=SIZE).xyxy[0])  # CHW is read as HWC
    raw = model(torch.zeros(1, 3, 64, 64))
    assert isinstance(raw, torch.Tensor) and raw.shape[0] == 1 and raw.shape[2] == 5 + 3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (42, "unsupported input int"),
        ("missing.jpg", "missing.jpg: image not found"),
        (np.zeros((8, 8, 3), np.float32), "expected a uint8 array"),
        (np.zeros((8, 8, 2), np.uint8), r"expected an \(H, W, 3\) BGR array"),
        ("http://127.0.0.1:9/offline.jpg", "cannot download image"),
        ([], "no images given"),
    ],
)
def test_bad_input_is_one_line(model: AutoShape, bad: object, message: str) -> None:
    with pytest.raises(UserError, match=message) as error:
        model(bad)
    assert "\n" not in str(error.value)


def test_a_file_that_is_not_an_image(model: AutoShape, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(UserError, match="broken.jpg: cannot decode image"):
        model(str(broken))


@pytest.mark.slow
def test_onnx_export_gives_the_boxes_of_the_checkpoint(shapes_weights: Path, shapes_root: Path, tmp_path: Path) -> None:
    weights = shutil.copy(shapes_weights, tmp_path / "best.pt")
    export(weights, ExportOptions(include=("onnx",), imgsz=SIZE, dynamic=True))
    images = [str(p) for p in sorted((shapes_root / "images" / "val").glob("*.jpg"))[:4]]
    pt_model, onnx_model = load(weights, device="cpu"), load(tmp_path / "best.onnx", device="cpu")
    pt_model.conf = onnx_model.conf = 0.1  # the briefly trained detector is rarely 0.25 sure; a few boxes are enough
    from_pt, from_onnx = pt_model(images, size=SIZE), onnx_model(images, size=SIZE)
    assert sum(len(p) for p in from_pt.pred) > 0 and from_onnx.names == from_pt.names
    for pt_boxes, onnx_boxes in zip(from_pt.xyxy, from_onnx.xyxy):
        assert onnx_boxes.shape == pt_boxes.shape
        torch.testing.assert_close(onnx_boxes[:, :4], pt_boxes[:, :4], atol=0.05, rtol=0)  # pixels
        torch.testing.assert_close(onnx_boxes[:, 4], pt_boxes[:, 4], atol=1e-3, rtol=0)
        assert torch.equal(onnx_boxes[:, 5], pt_boxes[:, 5])
