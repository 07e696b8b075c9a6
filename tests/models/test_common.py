import pytest
import torch

from models.common import C3, SPPF, Bottleneck, Concat, Conv, ModelScale, Repeat, Upsample, make_divisible
from utils.errors import UserError


def test_make_divisible_rounds_up_to_multiple():
    assert make_divisible(64 * 0.25) == 16
    assert make_divisible(1024 * 0.75) == 768
    assert make_divisible(33) == 40


@pytest.mark.parametrize(("number", "depth", "expected"), [(1, 0.33, 1), (3, 0.33, 1), (9, 0.33, 3), (9, 1.33, 12)])
def test_model_scale_depth(number, depth, expected):
    assert ModelScale(depth, 1.0).depth(number) == expected


def test_conv_shape_and_state_dict_names():
    conv = Conv(3, 16, 6, 2, 2)
    assert conv(torch.rand(1, 3, 64, 64)).shape == (1, 16, 32, 32)
    assert set(conv.state_dict()) == {
        "conv.weight",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    }
    assert conv.bn.eps == 1e-3 and conv.bn.momentum == 0.03  # YOLOv5's BatchNorm settings


def test_c3_keys_follow_yolov5_layout():
    block = C3(32, 64, number=2, shortcut=False)
    keys = block.state_dict()
    assert "m.1.cv2.conv.weight" in keys and "cv3.bn.running_var" in keys
    assert block(torch.rand(2, 32, 16, 16)).shape == (2, 64, 16, 16)
    assert not block.m[0].add


def test_bottleneck_residual_only_when_shapes_match():
    assert Bottleneck(16, 16).add
    assert not Bottleneck(16, 32).add
    assert not Bottleneck(16, 16, shortcut=False).add


def test_sppf_keeps_spatial_size():
    assert SPPF(64, 32)(torch.rand(1, 64, 10, 10)).shape == (1, 32, 10, 10)


def test_concat_and_upsample_channels():
    assert Concat([8, 16]).out_channels == 24
    assert Concat([8, 16])([torch.rand(1, 8, 4, 4), torch.rand(1, 16, 4, 4)]).shape == (1, 24, 4, 4)
    up = Upsample(8, None, 2, "nearest")
    assert up.out_channels == 8 and up(torch.rand(1, 8, 4, 4)).shape == (1, 8, 8, 8)


def test_conv_from_config_scales_width_and_repeats():
    layer = Conv.from_config(16, [64, 3, 1], 2, ModelScale(1.0, 0.5))
    assert isinstance(layer, Repeat) and isinstance(layer, torch.nn.Sequential) and len(layer) == 2
    assert layer.out_channels == 32
    assert layer(torch.rand(1, 16, 8, 8)).shape == (1, 32, 8, 8)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (Conv(8, 8, 3, 2), 8),
        (Conv(8, 8, 6, 2, 2), 8),
        (Conv(8, 8, 1, 1), 4),
        (Conv.from_config(8, [8, 3, 2], 2, ModelScale()), 16),
        (Bottleneck(8, 8), 4),
        (C3(8, 8, 2), 4),
        (SPPF(8, 8), 4),
        (Upsample(8, None, 2), 2),
        (Conv(8, 8, 3, 1, 0), None),  # shrinks the map by 2 pixels: no exact stride
        (Conv.from_config(8, [8, 3, 1, 0], 2, ModelScale()), None),
        (Upsample(8, (16, 24)), None),  # a fixed output size
    ],
)
def test_block_output_stride_matches_its_output_size(block, expected):
    """A map at stride 4 of a 128 x 192 image is 32 x 48; the block's output size gives its true stride."""
    assert block.output_stride(4) == expected
    if expected is not None:
        height, width = block(torch.rand(1, 8, 32, 48)).shape[2:]
        assert (128 / height, 192 / width) == (expected, expected)


def test_concat_output_stride():
    assert Concat([8, 8]).output_stride([16, 16]) == 16
    assert Concat([8, 8], 2).output_stride([16, 16]) is None
    with pytest.raises(UserError, match=r"different strides \[16, 8\]"):
        Concat([8, 8]).output_stride([16, 8])
