"""YOLOv7 through our parser: published sizes, YOLOv7's parameter names, the activation, and the folding of
RepConv branches and implicit layers for inference."""

from __future__ import annotations

import pytest
import torch
import yaml

from models.yolo import DetectionModel
from models.yolov7_blocks import IDetect, ImplicitA, ImplicitM, RepConv
from tests.helpers import randomise_batchnorm
from tests.models.test_yolo import ROOT, check_forward_and_fuse, minimal_cfg
from utils.errors import UserError

TINY = ROOT / "configs" / "models" / "yolov7-tiny.yaml"


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_tiny_has_the_reference_parameter_counts():
    """The counts of WongKinYiu/yolov7's cfg/training/yolov7-tiny.yaml at nc=80 (counted with its own code, and
    what its users report): 6,228,762 parameters, 6,219,709 once BatchNorm and the implicit layers are folded."""
    model = DetectionModel(TINY, verbose=False)
    assert parameters(model) == 6_228_762
    assert parameters(model.fuse()) == 6_219_709


@pytest.mark.parametrize(
    ("name", "unfused", "fused"), [("yolov7", 37_622_682, 36_905_341), ("yolov7x", 71_347_394, 71_311_741)]
)
def test_yolov7_and_yolov7x_have_the_reference_parameter_counts(name: str, unfused: int, fused: int):
    """YOLOv7's training YAMLs at nc=80: fused folds BatchNorm, the three RepConv branches and the implicit layers
    (36.9M for yolov7 is the paper's figure)."""
    model = DetectionModel(ROOT / "configs" / "models" / f"{name}.yaml", verbose=False)
    assert parameters(model) == unfused
    assert parameters(model.fuse()) == fused


@pytest.mark.parametrize(("channels", "stride"), [((16, 16), 1), ((16, 24), 1), ((16, 16), 2)])
def test_repconv_folds_its_branches_into_one_convolution(channels: tuple[int, int], stride: int):
    """With the identity branch (equal channels, stride 1) and without: one 3x3 conv computing the same, float64."""
    torch.manual_seed(0)
    block = RepConv(*channels, 3, stride).double()
    randomise_batchnorm(block)
    block.eval()
    assert (block.rbr_identity is not None) == (channels[0] == channels[1] and stride == 1)
    image = torch.rand(2, channels[0], 12, 10, dtype=torch.float64)
    with torch.no_grad():
        expected = block(image)
        block.reparameterize()
        folded = block(image)
    assert [name for name, _ in block.named_children()] == ["act", "rbr_reparam"]
    assert folded.shape == (2, channels[1], 12 // stride, 10 // stride)
    torch.testing.assert_close(folded, expected, rtol=1e-10, atol=1e-10)


def test_tiny_state_dict_uses_yolov7_names():
    """The head is row 77 with YOLOv7's ``m``, ``ia`` and ``im`` lists, so a YOLOv7 state_dict lines up."""
    state = DetectionModel(TINY, verbose=False).state_dict()
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    for level, channels in enumerate((128, 256, 512)):
        assert shapes[f"model.77.ia.{level}.implicit"] == (1, channels, 1, 1)
        assert shapes[f"model.77.im.{level}.implicit"] == (1, 255, 1, 1)
        assert shapes[f"model.77.m.{level}.weight"] == (255, channels, 1, 1)
    assert shapes["model.0.conv.weight"] == (32, 3, 3, 3) and shapes["model.76.conv.weight"] == (512, 256, 3, 3)


def test_tiny_convs_use_leaky_relu_without_touching_other_models():
    tiny = DetectionModel(TINY, verbose=False)
    v5 = DetectionModel("yolov5n.yaml", verbose=False)
    tiny_acts = [m.act for m in tiny.modules() if hasattr(m, "act")]
    assert len(tiny_acts) == 55 and all(  # the reference YAML's 55 Conv rows
        isinstance(a, torch.nn.LeakyReLU) and a.negative_slope == 0.1 for a in tiny_acts
    )
    assert all(isinstance(m.act, torch.nn.SiLU) for m in v5.modules() if hasattr(m, "act"))


def test_fuse_folds_the_implicit_layers_exactly():
    """Implicit layers moved away from their start (0 and 1), then fused: outputs equal the unfused model's in
    float64, and no implicit layer is left."""
    torch.manual_seed(0)
    model = DetectionModel(TINY, nc=4, verbose=False)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (ImplicitA, ImplicitM)):
                module.implicit.add_(torch.randn_like(module.implicit) * 0.5)
    check_forward_and_fuse(model, torch.float64, tolerance=1e-9)
    assert isinstance(model.head, IDetect)
    assert not any(isinstance(m, (ImplicitA, ImplicitM)) for m in model.modules())


def test_from_counts_back_from_the_row():
    """``-2`` in a row's ``from`` is the layer two rows up (YOLOv7's YAMLs), stored as its index."""
    cfg = minimal_cfg()
    cfg["head"][2] = [[-1, -6], 1, "Concat", [1]]  # head row 2 is layer 12; yolov5n's YAML says [-1, 6]
    model = DetectionModel(cfg, verbose=False)
    assert model.model[12].f == [-1, 6]
    reference = DetectionModel(minimal_cfg(), verbose=False)
    assert [layer.f for layer in model.model] == [layer.f for layer in reference.model]


def test_from_cannot_count_back_past_the_first_layer():
    cfg = minimal_cfg()
    cfg["backbone"][2] = [-3, 1, "C3", [128]]
    with pytest.raises(
        UserError, match=r"backbone row 2 .*'from' index -3 must name an earlier layer: 0..1, or -1..-2"
    ):
        DetectionModel(cfg, verbose=False)


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "timm:mobilenetv4_conv_small"])
def test_backbones_swap_on_yolov7_tiny(backbone: str):
    """One word in row 0: the neck's first convolutions take the backbone's channels, the neck and head get
    LeakyReLU(0.1) and the backbone keeps its own activations."""
    cfg = yaml.safe_load((ROOT / "configs" / "models" / "yolov7-tiny-efficientnet-lite0.yaml").read_text())
    cfg["backbone"][0][3] = [backbone, {"pretrained": False}]
    model = DetectionModel(cfg, nc=3, verbose=False)
    trunk = model.model[0]
    p3, p4, p5 = trunk.out_channels
    assert model.model[4].conv.in_channels == p5 and model.model[15].conv.in_channels == p4
    assert model.model[25].conv.in_channels == p3
    assert model.stride.tolist() == [8, 16, 32]
    neck = [m.act for m in model.model[4:].modules() if hasattr(m, "act") and not isinstance(m.act, torch.nn.Identity)]
    assert neck and all(isinstance(a, torch.nn.LeakyReLU) and a.negative_slope == 0.1 for a in neck)
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in trunk.modules())
    assert tuple(model(torch.rand(1, 3, 64, 64))[0].shape) == (1, 3, 8, 8, 8)
