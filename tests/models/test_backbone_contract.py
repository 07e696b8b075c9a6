"""The backbone contract in code: a backbone that breaks it fails at ``create_backbone`` with one line."""

import pytest
import torch
import yaml
from torch import nn

from models.backbones import BackboneContract, registry
from models.backbones.registry import create_backbone, register_backbone
from models.yolo import CONFIG_DIR, DetectionModel
from utils.errors import UserError

PREFIX = "breaks the backbone contract: "


class MyNet(nn.Module):
    """A toy backbone: three strided convolutions give P3, P4, P5 at strides 8, 16, 32; attributes set per test."""

    def __init__(self, **attributes) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 8, 8, 3, s, 1) for i, s in enumerate((8, 2, 2)))
        for key, value in attributes.items():
            setattr(self, key, value)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for conv in self.convs:
            x = conv(x)
            features.append(x)
        return features


@pytest.fixture
def register(monkeypatch):
    """``register(name, **attributes)`` registers a MyNet with those attributes for this test only."""
    monkeypatch.setattr(registry, "_BACKBONES", dict(registry._BACKBONES))
    return lambda name, **attributes: register_backbone(name)(lambda **options: MyNet(**attributes))


def b0_yaml_with(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / "yolov5s-efficientnet-b0.yaml").read_text().replace("efficientnet_b0", name))


def test_a_backbone_that_keeps_the_contract_builds_a_model(register):
    register("my_backbone", out_channels=[8, 8, 8], strides=(8, 16, 32))
    assert isinstance(create_backbone("my_backbone"), BackboneContract)
    model = DetectionModel(b0_yaml_with("my_backbone"), nc=2, verbose=False)
    assert model.stride.tolist() == [8, 16, 32]
    assert [r.shape[2:4] for r in model(torch.rand(1, 3, 64, 96))] == [(8, 12), (4, 6), (2, 3)]


def test_missing_strides_is_one_line_naming_backbone_class_and_attribute(register):
    register("my_backbone", out_channels=[8, 8, 8])
    with pytest.raises(UserError) as info:
        create_backbone("my_backbone")
    assert str(info.value) == (
        "backbone 'my_backbone' (MyNet) breaks the backbone contract: "
        "no 'strides' attribute (a list of 3 ints, the strides of P3, P4, P5)"
    )


def test_two_out_channels_fail_the_model_build_in_one_line(register):
    register("two_levels", out_channels=[8, 8], strides=[8, 16, 32])
    with pytest.raises(UserError) as info:
        DetectionModel(b0_yaml_with("two_levels"), verbose=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("<model dict>: backbone row 0 (layer 0): backbone 'two_levels' (MyNet) " + PREFIX)
    assert message.endswith("'out_channels' must be a list of 3 positive ints (the channels of P3, P4, P5), got [8, 8]")


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"strides": [8, 16, 32]}, "no 'out_channels' attribute (a list of 3 ints, the channels of P3, P4, P5)"),
        ({"out_channels": [8, 8, 8], "strides": [8, 16, 0]}, "'strides' must be a list of 3 positive ints"),
        ({"out_channels": [8, 8, 8], "strides": [8.0, 16, 32]}, "'strides' must be a list of 3 positive ints"),
        ({"out_channels": "888", "strides": [8, 16, 32]}, "'out_channels' must be a list of 3 positive ints"),
        ({"out_channels": [8, 8, 8], "strides": [16, 8, 32]}, "'strides' must increase from P3 to P5, got [16, 8, 32]"),
    ],
)
def test_each_broken_promise_is_named(register, attributes, problem):
    register("broken", **attributes)
    with pytest.raises(UserError) as info:
        create_backbone("broken")
    assert str(info.value).startswith("backbone 'broken' (MyNet) " + PREFIX + problem)


def test_no_module_or_no_forward_is_named(monkeypatch):
    monkeypatch.setattr(registry, "_BACKBONES", dict(registry._BACKBONES))
    register_backbone("not_a_module")(lambda **options: [nn.Identity()])
    register_backbone("no_forward")(lambda **options: nn.Module())
    with pytest.raises(UserError, match=r"^backbone 'not_a_module' \(list\) " + PREFIX + "it is not an nn.Module$"):
        create_backbone("not_a_module")
    with pytest.raises(UserError, match=r"^backbone 'no_forward' \(Module\) " + PREFIX + r"no forward\(x\) method"):
        create_backbone("no_forward")
