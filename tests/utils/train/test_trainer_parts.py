import pytest

from models.yolo import DetectionModel
from utils.errors import UserError
from utils.train.freeze import freeze_layers, keep_frozen_in_eval, layers_to_freeze
from utils.train.results import COLUMNS, append_row, read_rows, truncate_after


def test_freeze_backbone_means_the_backbone_section_or_row():
    native = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    assert layers_to_freeze(native, ["backbone"]) == list(range(10))
    assert layers_to_freeze(native, ["3"]) == [0, 1, 2]
    assert layers_to_freeze(native, ["1", "4"]) == [1, 4]
    with pytest.raises(UserError, match="--freeze"):
        layers_to_freeze(native, ["neck"])
    plugged = DetectionModel("yolov5s-efficientnet-b0.yaml", nc=2, verbose=False)
    assert layers_to_freeze(plugged, ["backbone"]) == [0]


def test_frozen_native_layers_keep_batchnorm_in_eval():
    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    frozen = freeze_layers(model, [0, 1])
    model.train()
    keep_frozen_in_eval(frozen)
    assert not model.model[0].bn.training and model.model[2].cv1.bn.training
    assert not any(p.requires_grad for p in model.model[0].parameters())


def test_results_truncate_keeps_rows_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "results.csv"
    for epoch in range(4):
        append_row(path, [epoch] + [0.5] * (len(COLUMNS) - 1))
    truncate_after(path, 1)
    assert [row["epoch"] for row in read_rows(path)] == [0, 1]
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
