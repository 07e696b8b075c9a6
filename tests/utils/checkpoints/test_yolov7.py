"""YOLOv7's model YAML as pickled in its checkpoints, turned into ours (hand-built rows; the whole file against
the reference package is in ``tests/models/test_yolov7_parity.py``)."""

from __future__ import annotations

import pytest

from utils.checkpoints.yolov7 import is_yolov7_yaml, yolov7_yaml_as_ours
from utils.errors import UserError


def their_yaml(*conv_args: list) -> dict:
    """A small YOLOv7-style model: the given Conv rows, an MP and an IDetect."""
    rows = [[-1, 1, "Conv", list(args)] for args in conv_args]
    return {"nc": 2, "anchors": [[10, 13, 16, 30, 33, 23]], "backbone": [*rows, [-1, 1, "MP", []]],
            "head": [[[len(rows)], 1, "IDetect", ["nc", "anchors"]]]}  # fmt: skip


def test_the_rows_activation_becomes_the_models_key():
    cfg = their_yaml([16, 3, 2, "None", 1, "nn.LeakyReLU(0.1)"], [32, 3, 2, 1, 1, "nn.LeakyReLU(0.1)"])
    ours = yolov7_yaml_as_ours(cfg, "t.pt")
    assert ours["activation"] == "nn.LeakyReLU(0.1)"
    assert [row[3] for row in ours["backbone"][:2]] == [[16, 3, 2], [32, 3, 2, 1]]
    assert cfg["backbone"][0][3][5] == "nn.LeakyReLU(0.1)"  # the record's YAML is left as it was


@pytest.mark.parametrize("activation", [True, "True"])
def test_their_default_activation_is_ours(activation):
    ours = yolov7_yaml_as_ours(their_yaml([16, 3, 2, "None", 1, activation], [32, 3, 2]), "t.pt")
    assert "activation" not in ours and ours["backbone"][0][3] == [16, 3, 2]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (([16, 3, 2, "None", 1, "nn.SiLU()"], [32, 3, 2, "None", 1, "nn.LeakyReLU(0.1)"]), "several activations"),
        (([16, 3, 2, "None", 1, "nn.LeakyReLU(0.1)"], [32, 3, 2]), r"several activations \(.*SiLU \(their default"),
        (([16, 3, 2, "None", 4, "nn.SiLU()"],), "no groups"),
        (([16, 3, 2, "None", 1, False],), "expected True or an nn."),
        (([16, 3, 2, "None", 1, ["nn.SiLU()"]],), "expected True or an nn."),
    ],
)
def test_rows_ours_cannot_express_are_one_line_errors(rows, message):
    with pytest.raises(UserError, match=message) as error:
        yolov7_yaml_as_ours(their_yaml(*rows), "t.pt")
    assert str(error.value).startswith("t.pt: ") and "\n" not in str(error.value)


def test_repconv_rows_share_the_models_activation():
    cfg = their_yaml([16, 3, 2, "None", 1, "nn.LeakyReLU(0.1)"])
    cfg["head"].insert(0, [-1, 1, "RepConv", [32, 3, 1]])  # their RepConv's default activation: SiLU
    with pytest.raises(UserError, match="several activations"):
        yolov7_yaml_as_ours(cfg, "t.pt")
    cfg["head"][0][3] = [32, 3, 1, None, 1, "nn.LeakyReLU(0.1)"]
    assert yolov7_yaml_as_ours(cfg, "t.pt")["head"][0][3] == [32, 3, 1]


def test_yolov7_is_told_from_yolov5():
    assert is_yolov7_yaml(their_yaml([16, 3, 2]))  # MP and IDetect
    assert is_yolov7_yaml({"backbone": [[-1, 1, "Conv", [16, 3, 2, "None", 1, "nn.SiLU()"]]], "head": []})
    yolov5 = {"backbone": [[-1, 1, "Conv", [16, 6, 2, 2]], [-1, 1, "C3", [32]]], "head": [[[0], 1, "Detect", []]]}
    assert not is_yolov7_yaml(yolov5)
