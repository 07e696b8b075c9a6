import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from models.backbones import list_backbones
from models.head import Detect
from models.summary import count_flops, estimate_flops
from models.yolo import DetectionModel
from tests.helpers import randomise_batchnorm
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "models").glob("*.yaml"))
EFFICIENTNET_YAML = ROOT / "configs" / "models" / "yolov5s-efficientnet-b0.yaml"


def calibrate_batchnorm(model: torch.nn.Module, image: torch.Tensor) -> None:
    """Give every BatchNorm the statistics of real activations, as a trained model has.

    Random statistics would do for a shallow model, but in deep backbones (EfficientNet-B7) they let
    activations grow to 1e4 and more, where float rounding alone exceeds any useful tolerance.
    """
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        model(image)
        model(image.flip(-1))


def check_forward_and_fuse(model: DetectionModel, dtype: torch.dtype = torch.float32, tolerance: float = 1e-4) -> None:
    """Training and eval output shapes, then fused outputs equal to unfused ones within ``tolerance`` (relative
    to the largest logit when that exceeds 1).

    float32 models get random BatchNorm statistics; float64 ones get calibrated statistics, which keep deep
    backbones well conditioned, and a tight tolerance that only an exact folding meets.
    """
    nc, na, height, width = model.yaml["nc"], 3, 64, 96
    model.to(dtype)
    image = torch.rand(2, 3, height, width, dtype=dtype)
    model.train()
    raw = model(image)
    assert [tuple(r.shape) for r in raw] == [(2, na, height // s, width // s, nc + 5) for s in (8, 16, 32)]
    if dtype == torch.float64:
        calibrate_batchnorm(model, image)
    else:
        randomise_batchnorm(model)
    model.eval()
    with torch.no_grad():
        decoded, raw = model(image)
        assert decoded.shape == (2, na * sum((height // s) * (width // s) for s in (8, 16, 32)), nc + 5)
        model.fuse()
        fused_decoded, fused_raw = model(image)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(raw, fused_raw):  # logits reach the hundreds in random deep models: scale the bound with them
        assert (a - b).abs().max() < tolerance * max(1.0, a.abs().max().item())
    # decoding only transforms the logits (sigmoid, squares, pixel scale): the logit bound above is the real test
    assert torch.allclose(decoded, fused_decoded, rtol=1e-5, atol=1e-4)


def test_every_backbone_and_native_config_is_shipped():
    names = {path.stem for path in CONFIGS}
    expected = {f"yolov5{s}" for s in "nsmlx"} | {f"yolov5s-efficientnet-b{i}" for i in range(8)}
    assert expected | {"yolov5s-darknet53", "yolov5s-cspdarknet53"} <= names


@pytest.mark.parametrize("cfg", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_shipped_config_forward_and_parsed_strides(cfg, monkeypatch):
    """The parser's strides, known without a forward pass, equal those a non-square forward pass measures."""
    monkeypatch.setattr(DetectionModel, "_probe_strides", lambda *_: pytest.fail("the strides were probed"))
    model = DetectionModel(cfg, nc=4)
    assert model.stride.tolist() == [8, 16, 32]
    image = torch.rand(1, 3, 64, 96)
    raw = model(image)
    assert [tuple(r.shape) for r in raw] == [(1, 3, 64 // s, 96 // s, 9) for s in model.stride.int().tolist()]
    model.eval()
    with torch.no_grad():
        decoded, _ = model(image)
    assert decoded.shape == (1, 3 * (8 * 12 + 4 * 6 + 2 * 3), 9)


def test_strides_are_probed_only_where_a_layer_cannot_tell(monkeypatch):
    """An Upsample to a fixed size has no static stride: the model measures strides, in eval mode."""
    probes = []
    probe = DetectionModel._probe_strides
    monkeypatch.setattr(DetectionModel, "_probe_strides", lambda self, ch: probes.append(ch) or probe(self, ch))
    cfg = minimal_cfg()
    cfg["head"][1] = [-1, 1, "nn.Upsample", [16, None, "nearest"]]  # P5 of the 256 px probe is 8x8
    model = DetectionModel(cfg, verbose=False)
    assert probes == [3] and model.stride.tolist() == [8, 16, 32]
    assert [layer.out_strides for layer in model.model][10:13] == [32, None, None]
    assert model.training and all(
        torch.equal(m.running_mean, torch.zeros_like(m.running_mean))
        for m in model.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    )
    DetectionModel(minimal_cfg(), verbose=False)
    assert probes == [3]


def test_parser_carries_strides_like_channels():
    model = DetectionModel("yolov5n.yaml", verbose=False)
    backbone = [2, 4, 4, 8, 8, 16, 16, 32, 32, 32]
    neck = [32, 16, 16, 16, 16, 8, 8, 8, 16, 16, 16, 32, 32, 32]
    assert [layer.out_strides for layer in model.model] == backbone + neck + [[8, 16, 32]]


@pytest.mark.parametrize("cfg", ["yolov5s.yaml", "yolov5s-efficientnet-b0.yaml"])
def test_fuse_keeps_outputs(cfg):
    check_forward_and_fuse(DetectionModel(cfg))


@pytest.mark.parametrize("cfg", ["yolov5n.yaml", "yolov5s-efficientnet-b0.yaml"])
def test_for_inference_is_fused_eval_channels_last_with_the_same_outputs(cfg):
    torch.manual_seed(0)
    model = DetectionModel(cfg, nc=3, verbose=False)
    randomise_batchnorm(model)
    images = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        expected = model.eval()(images)[0]
        ready = copy.deepcopy(model).for_inference("cpu")
        decoded, raw = ready(images)
    assert not ready.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ready.modules())
    convs = [m for m in ready.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert [r.shape for r in raw] == [(2, 3, 96 // s, 128 // s, 8) for s in (8, 16, 32)]
    torch.testing.assert_close(decoded, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cfg", ["yolov5n.yaml", "yolov5s-efficientnet-b0.yaml"])
def test_for_training_is_channels_last_with_the_same_outputs_gradients_and_nchw_checkpoints(cfg):
    from utils.checkpoints.checkpoint import half_state_dict

    torch.manual_seed(0)
    model = DetectionModel(cfg, nc=3, verbose=False).train()
    ready = copy.deepcopy(model).for_training("cpu")
    assert ready.training
    convs = [m for m in ready.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    images = torch.rand(2, 3, 128, 128)
    outputs = [net(images) for net in (model, ready)]
    for expected, got in zip(*outputs):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    for raw in outputs:
        sum(level.square().mean() for level in raw).backward()
    # The whole gradient, not each tensor: at 96x128 px the EfficientNet neck's first 1x1 conv (a 3x4 map, then
    # BatchNorm) got a channels-last weight gradient 1 % away from float64's (NCHW: 3e-5); the whole gradient at
    # 128 px agrees to 4e-5.
    expected, got = (torch.cat([p.grad.flatten() for p in net.parameters()]) for net in (model, ready))
    assert (got - expected).norm() / expected.norm() < 1e-3
    state = half_state_dict(ready)
    assert state.keys() == model.state_dict().keys() and all(v.is_contiguous() for v in state.values())


SWAP_NAMES = [name for name in list_backbones() if ":" not in name] + [
    "timm:convnext_nano",
    "timm:mobilenetv3_large_100",
]


@pytest.mark.parametrize("name", SWAP_NAMES)
def test_one_word_backbone_swap(name):
    text = EFFICIENTNET_YAML.read_text()
    assert text.count("efficientnet_b0") == 1
    model = DetectionModel(yaml.safe_load(text.replace("efficientnet_b0", name)), nc=3)
    assert model.model[0].name == name
    check_forward_and_fuse(model, torch.float64, tolerance=1e-8)


def test_building_a_model_leaves_batchnorm_statistics_alone(tmp_path):
    """Pretrained running statistics must survive model construction (a stride probe, where needed, runs in eval
    mode; this model needs none)."""
    import timm

    source = timm.create_model("efficientnet_b0")
    randomise_batchnorm(source)
    path = tmp_path / "b0.pth"
    torch.save(source.state_dict(), path)
    cfg = yaml.safe_load(EFFICIENTNET_YAML.read_text())
    cfg["backbone"][0][3][1]["pretrained"] = str(path)
    model = DetectionModel(cfg)
    body = model.model[0].body.body.state_dict()  # Backbone layer -> TimmBackbone -> timm model
    assert model.training
    for key, value in body.items():
        if "running" in key:
            assert torch.equal(value, source.state_dict()[key]), key


def test_frozen_backbone_keeps_batchnorm_in_eval_mode():
    cfg = yaml.safe_load(EFFICIENTNET_YAML.read_text())
    cfg["backbone"][0][3][1]["freeze"] = True
    model = DetectionModel(cfg, nc=2).train()
    backbone = model.model[0]
    before = copy.deepcopy(backbone.state_dict())
    model(torch.rand(2, 3, 64, 64) * 3)
    assert not backbone.body.training and model.model[5].training
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert not any(p.requires_grad for p in backbone.parameters())
    assert all(p.requires_grad for p in model.model[1:].parameters())


def test_detect_decodes_cell_centres_and_anchor_sizes():
    """With zero weights every sigmoid is 0.5: boxes sit at cell centres with exactly the anchor sizes."""
    anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]]
    head = Detect(2, anchors, [4, 4])
    head.set_strides(torch.tensor([8.0, 16.0]))
    for conv in head.m:
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    head.eval()
    decoded, raw = head([torch.rand(1, 4, 2, 3), torch.rand(1, 4, 1, 2)])
    assert decoded.shape == (1, 3 * 6 + 3 * 2, 7)
    level0 = decoded[0, :18].view(3, 2, 3, 7)  # anchor, y, x
    assert torch.allclose(level0[0, 1, 2, :2], torch.tensor([2.5 * 8, 1.5 * 8]))
    assert torch.allclose(level0[:, 0, 0, 2:4], torch.tensor([[10.0, 13], [16, 30], [33, 23]]))
    level1 = decoded[0, 18:].view(3, 1, 2, 7)
    assert torch.allclose(level1[2, 0, 1, :4], torch.tensor([1.5 * 16, 0.5 * 16, 59, 119]))
    assert torch.allclose(decoded[..., 4:], torch.full_like(decoded[..., 4:], 0.5))


def zero_weight_head() -> tuple[Detect, list[torch.Tensor]]:
    """One-level, one-class head at stride 8 with zero weights (every box sits on its anchor's size), in eval mode,
    and a 2x2 feature map for it."""
    head = Detect(1, [[10, 13, 16, 30, 33, 23]], [4])
    head.set_strides(torch.tensor([8.0]))
    torch.nn.init.zeros_(head.m[0].weight)
    torch.nn.init.zeros_(head.m[0].bias)
    return head.eval(), [torch.rand(1, 4, 2, 2)]


def test_detect_follows_anchors_changed_in_place_after_a_decode():
    """The decode grids are cached between calls; new anchors (AutoAnchor, an EMA update, a checkpoint load
    write them in place) must show in the very next decode."""
    head, features = zero_weight_head()
    with torch.inference_mode():
        before = head(features)[0][0, 0, 2:4].clone()
    head.anchors *= 2
    with torch.inference_mode():
        after = head(features)[0][0, 0, 2:4]
    assert torch.allclose(before, torch.tensor([10.0, 13])) and torch.allclose(after, torch.tensor([20.0, 26]))
    head.load_state_dict({"anchors": head.anchors / 4, **{f"m.0.{k}": v for k, v in head.m[0].state_dict().items()}})
    assert torch.allclose(head(features)[0][0, 0, 2:4], torch.tensor([5.0, 6.5]))


def test_detect_built_under_inference_mode_decodes_and_follows_its_anchors():
    """Buffers made under inference mode keep no version counter (reading one raises), as in a model
    loaded inside ``torch.inference_mode()``; the decode must work and still see in-place anchor changes."""
    with torch.inference_mode():
        head, features = zero_weight_head()
        assert torch.allclose(head(features)[0][0, 0, 2:4], torch.tensor([10.0, 13]))
        head.anchors *= 2
        assert torch.allclose(head(features)[0][0, 0, 2:4], torch.tensor([20.0, 26]))


def test_detect_bias_priors():
    head = Detect(80, [[10, 13, 16, 30, 33, 23]] * 3, [8, 8, 8])
    head.set_strides(torch.tensor([8.0, 16.0, 32.0]))
    before = [conv.bias.detach().clone().view(3, -1) for conv in head.m]
    head.initialize_biases()
    for conv, old, stride in zip(head.m, before, (8, 16, 32)):
        delta = conv.bias.detach().view(3, -1) - old
        assert torch.allclose(delta[:, 4], torch.tensor(math.log(8 / (640 / stride) ** 2)))
        assert torch.allclose(delta[:, 5:], torch.tensor(math.log(0.6 / (80 - 0.99999))))
        assert torch.equal(delta[:, :4], torch.zeros(3, 4))


def test_anchors_stored_in_stride_units():
    model = DetectionModel("yolov5s.yaml")
    assert torch.allclose(model.head.anchors[2, 2], torch.tensor([373 / 32, 326 / 32]))


def test_flop_count_matches_hand_computation():
    conv = torch.nn.Conv2d(3, 16, 3, padding=1, bias=False)
    assert count_flops(conv, 32) == 2 * 3 * 16 * 9 * 32 * 32


@pytest.mark.parametrize("cfg, tolerance", [("yolov5n.yaml", 0.0), ("yolov5s-efficientnet-b0.yaml", 0.02)])
def test_flop_estimate_matches_the_exact_count(cfg, tolerance):
    model = DetectionModel(cfg, nc=3, verbose=False)
    exact = count_flops(model, 320)
    assert abs(estimate_flops(model, 320) - exact) <= tolerance * exact


def test_nc_override_changes_head():
    model = DetectionModel("yolov5n.yaml", nc=3)
    assert model.yaml["nc"] == 3 and model.head.no == 8


def minimal_cfg() -> dict:
    return yaml.safe_load((ROOT / "configs" / "models" / "yolov5n.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("anchors"), "missing key 'anchors'"),
        (lambda c: c.update(activations="nn.ReLU()"), "unknown key 'activations'; did you mean 'activation'"),
        (
            lambda c: c["backbone"].__setitem__(2, [-1, 3, "C4", [128]]),
            "backbone row 2 .*unknown module 'C4'; did you mean 'C3'",
        ),
        (
            lambda c: c["backbone"].__setitem__(1, [-1, 1, "Conv", [128, 3, 2, 1, 1, 1, True, 9]]),
            "backbone row 1 .*wrong args",
        ),
        (lambda c: c["head"].__setitem__(2, [[-1, 30], 1, "Concat", [1]]), "head row 2 .*'from' index 30"),
        (lambda c: c["head"].__setitem__(2, [[-1, 4], 1, "Concat", [1]]), r"head row 2 .*different strides \[16, 8\]"),
        (lambda c: c["head"].__setitem__(0, [-1, 1, "Conv"]), r"head row 0 .*expected \[from, number, module, args\]"),
        (lambda c: c["backbone"].__setitem__(0, [-1, 1, "Backbone", ["efficientnet-b9"]]), "did you mean"),
    ],
)
def test_bad_yaml_errors_name_the_problem(edit, message):
    cfg = minimal_cfg()
    edit(cfg)
    with pytest.raises(UserError, match=message):
        DetectionModel(cfg)


def test_cli_prints_summary_in_yolov5_form():
    result = subprocess.run(
        [sys.executable, "-m", "models.yolo", "--cfg", "configs/models/yolov5n.yaml", "--imgsz", "320"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("YOLOv5n summary: ") and " 1872157 parameters, 1872157 gradients, " in last
    assert last.endswith(" GFLOPs")
    gflops = float(last.split(", ")[-1].split()[0])
    assert 0.9 < gflops < 1.2  # 4.5 GFLOPs at 640 scales by (320/640)^2


def test_cli_runs_by_path_as_yolov5_users_call_it(tmp_path):
    """``python models/yolo.py`` from another folder: the issue's acceptance command for yolov7-tiny."""
    script, cfg = ROOT / "models" / "yolo.py", ROOT / "configs" / "models" / "yolov7-tiny.yaml"
    result = subprocess.run([sys.executable, str(script), "--cfg", str(cfg), "--fuse"], cwd=tmp_path,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [line for line in result.stderr.splitlines() if " summary: " in line]
    assert " 6228762 parameters" in summaries[0] and " 6219709 parameters" in summaries[1]


def test_cli_bad_yaml_is_one_line(tmp_path):
    cfg = minimal_cfg()
    cfg["head"][3] = [-1, 3, "C3x", [512, False]]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = subprocess.run(
        [sys.executable, "-m", "models.yolo", "--cfg", str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(path) in lines[0] and "head row 3" in lines[0] and "'C3x'" in lines[0]
    assert "Traceback" not in result.stderr
