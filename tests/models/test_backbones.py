import pytest
import timm
import torch

from models.backbones import BackboneContract, create_backbone, list_backbones
from models.backbones.timm_backbone import TimmBackbone
from models.fuse import fuse_conv_bn
from tests.helpers import randomise_batchnorm
from utils.errors import UserError

REGISTERED = [name for name in list_backbones() if ":" not in name]
EXPECTED_CHANNELS = {
    "efficientnet_b0": [40, 112, 320],
    "efficientnet_b7": [80, 224, 640],
    "darknet53": [256, 512, 1024],
    "cspdarknet53": [256, 512, 1024],
}


def test_registry_lists_every_required_backbone():
    expected = {f"efficientnet_b{i}" for i in range(8)} | {"darknet53", "cspdarknet53"}
    assert expected <= set(REGISTERED)
    assert "timm:<model_name>" in list_backbones()


@pytest.mark.parametrize("name", REGISTERED)
def test_backbone_outputs_p3_p4_p5(name):
    backbone = create_backbone(name).eval()
    assert isinstance(backbone, BackboneContract)
    assert backbone.strides == [8, 16, 32]
    if name in EXPECTED_CHANNELS:
        assert backbone.out_channels == EXPECTED_CHANNELS[name]
    with torch.no_grad():
        features = backbone(torch.rand(1, 3, 64, 96))
    assert len(features) == len(backbone.out_channels) == len(backbone.strides) == 3
    for feature, channels, stride in zip(features, backbone.out_channels, backbone.strides):
        assert feature.shape == (1, channels, 64 // stride, 96 // stride)


@pytest.mark.parametrize(
    ("name", "channels"), [("timm:resnet18", [128, 256, 512]), ("timm:convnext_nano", [160, 320, 640])]
)
def test_generic_timm_entry(name, channels):
    backbone = create_backbone(name)
    assert backbone.out_channels == channels and backbone.strides == [8, 16, 32]


def test_timm_model_without_stride_8_is_rejected():
    with pytest.raises(UserError, match="strides"):
        create_backbone("timm:vit_tiny_patch16_224")


def test_unknown_backbone_lists_names_and_closest_match():
    with pytest.raises(UserError) as info:
        create_backbone("efficientnet-b0")
    message = str(info.value)
    assert "did you mean 'efficientnet_b0'" in message
    assert all(name in message for name in REGISTERED)
    with pytest.raises(UserError, match="timm has no model"):
        create_backbone("timm:not_a_model")


def test_input_is_normalised_with_the_pretrained_mean_and_std():
    backbone = TimmBackbone("efficientnet_b0").eval()
    mean = torch.tensor(timm.create_model("efficientnet_b0").pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(timm.create_model("efficientnet_b0").pretrained_cfg["std"]).view(1, 3, 1, 1)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ours = backbone(image)
        direct = backbone.body((image - mean) / std)
    assert torch.equal(ours[2], direct[4])
    assert not torch.equal(ours[2], backbone.body(image)[4])


@pytest.mark.parametrize("name", ["efficientnet_b0", "cspdarknet53"])
def test_fuse_folds_timm_batchnorm_act(name):
    backbone = create_backbone(name)
    randomise_batchnorm(backbone)
    backbone.eval()
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = backbone(image)
        folded = fuse_conv_bn(backbone)
        after = backbone(image)
    assert folded > 10
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())
    for a, b in zip(before, after):
        assert (a - b).abs().max() < 1e-4 * max(1.0, a.abs().max().item())


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_from_local_file(tmp_path, suffix):
    """A full classifier checkpoint (with its head) loads into the features-only backbone by name."""
    source = timm.create_model("efficientnet_b0")
    randomise_batchnorm(source)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": source.state_dict()}, path)
    backbone = create_backbone("efficientnet_b0", pretrained=str(path))
    loaded = backbone.body.state_dict()
    expected = source.state_dict()
    assert len(loaded) > 100
    for key, value in loaded.items():
        assert torch.equal(value, expected[key]), key


def test_pretrained_file_of_another_architecture_fails(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet18").state_dict(), path)
    with pytest.raises(UserError, match="none of its .* tensors match backbone efficientnet_b0"):
        create_backbone("efficientnet_b0", pretrained=str(path))


def test_pretrained_missing_file_is_clear(tmp_path):
    with pytest.raises(UserError, match="not found"):
        create_backbone("efficientnet_b0", pretrained=str(tmp_path / "missing.safetensors"))


def test_darknet_pretrained_keys_are_mapped(tmp_path):
    """timm's features_only wrapper renames ``stem.conv1`` to ``stem_conv1``; a classifier file must still load."""
    source = timm.create_model("darknet53")
    path = tmp_path / "darknet.pth"
    torch.save(source.state_dict(), path)
    backbone = create_backbone("darknet53", pretrained=str(path))
    assert torch.equal(
        backbone.body.state_dict()["stem_conv1.conv.weight"], source.state_dict()["stem.conv1.conv.weight"]
    )


def test_offline_download_fails_fast_with_a_hint(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        create_backbone("efficientnet_b0", pretrained=True)
    assert "pretrained: /path/to/model.safetensors" in str(info.value)
    assert "timm/efficientnet_b0" in str(info.value)


def test_timm_keyword_options_pass_through():
    plain = create_backbone("efficientnet_b0")
    dropped = create_backbone("efficientnet_b0", drop_path_rate=0.2)
    rates = [m.drop_prob for m in dropped.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) > 0
    assert not [m for m in plain.modules() if type(m).__name__ == "DropPath"]
    with pytest.raises(UserError, match="bad option"):
        create_backbone("efficientnet_b0", not_an_option=1)


@pytest.mark.parametrize(
    "typed, suggested",
    [
        ("efficientnet_bo", "efficientnet_b0"),  # letter o for zero: difflib alone ties b0 with b7 and picks b7
        ("cspdarknet", "cspdarknet53"),
        ("timm:resnet_18", "resnet18"),  # over timm.list_models()
        ("timm:mobilenetv3_larg_100", "mobilenetv3_large_100"),
    ],
)
def test_typos_get_the_intended_name(typed, suggested):
    with pytest.raises(UserError, match=f"did you mean '{suggested}'"):
        create_backbone(typed, pretrained=False)
