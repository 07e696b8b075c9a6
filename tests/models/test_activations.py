import pytest
import torch
import yaml

from models.activations import activation_factory
from models.common import Conv
from models.yolo import DetectionModel
from tests.helpers import randomise_batchnorm
from utils.errors import UserError


def config(activation: str | None, path: str = "configs/models/yolov5n.yaml") -> dict:
    cfg = yaml.safe_load(open(path))
    if activation is not None:
        cfg["activation"] = activation
    return cfg


def activation_types(model: torch.nn.Module) -> set[type]:
    return {type(m.act) for m in model.modules() if isinstance(m, Conv) and not isinstance(m.act, torch.nn.Identity)}


def test_two_models_in_one_process_keep_their_own_activation():
    relu6 = DetectionModel(config("ReLU6"), verbose=False)
    leaky = DetectionModel(config("nn.LeakyReLU(0.1)"), verbose=False)  # YOLOv5's spelling
    plain = DetectionModel(config(None), verbose=False)
    assert activation_types(relu6) == {torch.nn.ReLU6}
    assert activation_types(leaky) == {torch.nn.LeakyReLU}
    assert {m.act.negative_slope for m in leaky.modules() if isinstance(m, Conv)} == {0.1}
    assert activation_types(plain) == {torch.nn.SiLU}  # built after the others: nothing leaked
    assert activation_types(DetectionModel(config("ReLU6"), verbose=False)) == {torch.nn.ReLU6}
    assert Conv(3, 8).act.__class__ is torch.nn.SiLU  # the class default is untouched


def neck_output(model: DetectionModel, image: torch.Tensor) -> torch.Tensor:
    """The last neck layer's output (the P5 C3 before Detect): an untrained head's output hides the features."""
    seen = []
    hook = model.model[-2].register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        model(image)
    hook.remove()
    return seen[0]


def test_the_activation_changes_the_output_and_survives_fusing():
    torch.manual_seed(0)
    silu = DetectionModel(config(None), verbose=False).eval()
    randomise_batchnorm(silu)  # default statistics shrink activations to ~1e-10 by the neck
    hardswish = DetectionModel(config("Hardswish"), verbose=False).eval()
    hardswish.load_state_dict(silu.state_dict())  # activations hold no weights: the same state_dict fits
    image = torch.rand(1, 3, 64, 64)
    ours = neck_output(hardswish, image)
    assert (ours - neck_output(silu, image)).abs().max() > 1e-2
    hardswish.fuse()
    assert torch.allclose(neck_output(hardswish, image), ours, rtol=1e-4, atol=1e-4)
    assert activation_types(hardswish) == {torch.nn.Hardswish}


def test_a_timm_backbone_keeps_its_own_activation():
    model = DetectionModel(config("ReLU", "configs/models/yolov5s-efficientnet-b0.yaml"), verbose=False)
    assert activation_types(model) == {torch.nn.ReLU}
    assert any(isinstance(m, torch.nn.SiLU) for m in model.model[0].modules())  # EfficientNet's own SiLU


@pytest.mark.parametrize(
    "spec, message",
    [
        ("Relu6", "unknown activation; did you mean 'ReLU6'?"),
        ("ReLU6(2)", "ReLU6 takes no argument"),
        ("LeakyReLU(a)", "slope must be a number"),
        ("LeakyReLU(1.5)", "slope must be in [0, 1)"),
        ("__import__('os').system('x')", "expected a name such as ReLU6"),
        (3, "expected a name such as ReLU6"),
    ],
)
def test_bad_activations_are_one_line_errors_naming_the_file(spec, message):
    with pytest.raises(UserError, match="my.yaml: activation") as error:
        activation_factory(spec, "my.yaml")
    assert message in str(error.value)
    with pytest.raises(UserError, match="activation"):
        DetectionModel(config(spec), verbose=False)


def test_bare_leaky_relu_uses_torchs_slope():
    assert activation_factory("LeakyReLU")().negative_slope == 0.01
    assert isinstance(activation_factory(" nn.Mish() ")(), torch.nn.Mish)


def test_a_checkpoint_brings_its_activation_back(tmp_path):
    from tests.helpers import SHAPES_NAMES, write_checkpoint
    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

    model = DetectionModel(config("ReLU6"), nc=3, verbose=False)
    path = write_checkpoint(model, SHAPES_NAMES, tmp_path / "relu6.pt")
    assert activation_types(model_from_checkpoint(load_checkpoint(path))) == {torch.nn.ReLU6}
