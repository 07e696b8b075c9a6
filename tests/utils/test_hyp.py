import re
from pathlib import Path

import pytest

from utils.errors import UserError
from utils.hyp import AUGMENT_KEYS, load_hyp

HYPS = Path(__file__).resolve().parents[2] / "configs" / "hyps"


def test_shipped_hyps_have_yolov5_values():
    low, med, high = (load_hyp(HYPS / f"hyp.scratch-{n}.yaml") for n in ("low", "med", "high"))
    assert (low["lr0"], low["lrf"], low["scale"], low["mixup"], low["obj"], low["cls"]) == (0.01, 0.01, 0.5, 0, 1, 0.5)
    assert (med["lrf"], med["scale"], med["mixup"], med["obj"], med["cls"], med["copy_paste"]) == (
        0.1,
        0.9,
        0.1,
        0.7,
        0.3,
        0.0,
    )
    assert high["copy_paste"] == 0.1 and high["scale"] == 0.9
    assert all(k in low for k in AUGMENT_KEYS) and low["fliplr"] == 0.5 and low["mosaic"] == 1.0
    for name in ("low", "med", "high"):  # every key carries an inline comment
        lines = [ln for ln in (HYPS / f"hyp.scratch-{name}.yaml").read_text().splitlines() if ln and ln[0] != "#"]
        assert all("  # " in ln for ln in lines)


def test_bad_hyp_files(tmp_path):
    text = (HYPS / "hyp.scratch-low.yaml").read_text()
    (tmp_path / "unknown.yaml").write_text(text + "mosiac: 1.0\n")
    (tmp_path / "missing.yaml").write_text(text.replace("mixup:", "# mixup:"))
    (tmp_path / "text.yaml").write_text(text.replace("scale: 0.5", "scale: big"))
    with pytest.raises(UserError, match="unknown hyperparameter 'mosiac'"):
        load_hyp(tmp_path / "unknown.yaml")
    with pytest.raises(UserError, match="missing hyperparameter 'mixup'"):
        load_hyp(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="'scale' must be a number"):
        load_hyp(tmp_path / "text.yaml")


def test_shipped_yolov7_hyps_have_yolov7_values():
    tiny, p5 = load_hyp(HYPS / "hyp.scratch.tiny.yaml"), load_hyp(HYPS / "hyp.scratch.p5.yaml")
    assert (tiny["lrf"], tiny["cls"], tiny["obj"], tiny["scale"], tiny["mixup"]) == (0.01, 0.5, 1.0, 0.5, 0.05)
    assert (p5["lrf"], p5["cls"], p5["obj"], p5["scale"], p5["mixup"], p5["translate"]) == (
        0.1,
        0.3,
        0.7,
        0.9,
        0.15,
        0.2,
    )
    assert tiny["loss_ota"] == p5["loss_ota"] == 1 and tiny["paste_in"] == p5["paste_in"] == 0
    assert all(k in tiny for k in AUGMENT_KEYS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("paste_in: 0.05", "paste_in 0.05: YOLOv7's paste-in augmentation is not implemented here; set it to 0"),
        ("loss_ota: 2", "loss_ota must be 0 (YOLOv5's loss) or 1 (YOLOv7's OTA loss), got 2"),
    ],
)
def test_yolov7_keys_refuse_what_is_not_built(tmp_path, line: str, message: str):
    path = tmp_path / "hyp.yaml"
    path.write_text((HYPS / "hyp.scratch-low.yaml").read_text() + line + "\n")
    with pytest.raises(UserError, match=re.escape(message)):
        load_hyp(path)
