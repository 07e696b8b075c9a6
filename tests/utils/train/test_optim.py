import pytest
import torch

from models.yolo import DetectionModel
from utils.errors import UserError
from utils.train.ema import ModelEMA
from utils.train.optim import accumulation_steps, build_optimizer, epoch_lr_factor, lr_curve, parameter_groups, warmup


def test_three_parameter_groups_cover_every_parameter():
    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    decay, no_decay, biases = parameter_groups(model)
    assert len(decay) + len(no_decay) + len(biases) == len(list(model.parameters()))
    optimizer = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0, 5e-4, 0.0]
    assert all(p.ndim == 1 for p in optimizer.param_groups[2]["params"])  # BatchNorm weights
    with pytest.raises(UserError, match="SGD, Adam or AdamW"):
        build_optimizer(model, "RMSprop", 0.01, 0.9, 0.0)


def test_yolov7_implicit_layers_are_not_decayed():
    """As in YOLOv7: the head's implicit offsets and scales sit with the norm weights, without weight decay."""
    model = DetectionModel("configs/models/yolov7-tiny.yaml", nc=2, verbose=False)
    decay, no_decay, _ = parameter_groups(model)
    implicit = [m.implicit for m in model.head.modules() if hasattr(m, "implicit")]
    assert len(implicit) == 6
    assert all(any(p is q for q in no_decay) for p in implicit) and not any(p is q for q in decay for p in implicit)


def yolov5_epoch_lrs(curve, epochs: int) -> list[float]:
    """The LR each epoch trains at when a LambdaLR is driven as YOLOv5's train.py drives it: reset to
    ``last_epoch = -1`` after construction and stepped at the end of every epoch."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, curve)
    scheduler.last_epoch = -1
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_epoch_lrs_follow_yolov5s_scheduler_as_it_runs():
    for cosine in (False, True):
        curve = lr_curve(100, 0.01, cosine)
        ours = [epoch_lr_factor(curve, epoch) for epoch in range(100)]
        assert ours == pytest.approx(yolov5_epoch_lrs(curve, 100))
    linear = lr_curve(100, 0.01, False)  # the package results.csv: epoch 10 at 0.00911, 99 at 0.00030 (lr0 0.01)
    assert epoch_lr_factor(linear, 10) == pytest.approx(0.9109)
    assert epoch_lr_factor(linear, 99) == pytest.approx(0.0298)
    assert lr_curve(100, 0.01, True)(100) == pytest.approx(0.01)


def test_warmup_ramps_bias_lr_down_and_others_up():
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4)
    for group in optimizer.param_groups:
        group["initial_lr"] = 0.01
    hyp = {"warmup_bias_lr": 0.1, "warmup_momentum": 0.8, "momentum": 0.937}
    warmup(optimizer, 0, 100, 1.0, hyp)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.0, 0.0]
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.8)
    warmup(optimizer, 100, 100, 1.0, hyp)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01] * 3)


def test_accumulation_reaches_nominal_batch():
    assert accumulation_steps(0, 100, 16) == 1
    assert accumulation_steps(500, 100, 16) == 4
    assert accumulation_steps(500, 100, 128) == 1


def test_ema_moves_towards_the_model():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = ModelEMA(model, decay=0.5, tau=1e-9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    assert ema.ema.weight.item() == pytest.approx(0.5)
    ema.update(model)
    assert ema.ema.weight.item() == pytest.approx(0.75)


def test_backbone_parameters_get_groups_of_their_own():
    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    backbone = torch.nn.ModuleList(model.model[i] for i in range(10))
    plain = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4)
    split = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4, backbone)
    assert [g.get("backbone", False) for g in split.param_groups] == [False] * 3 + [True] * 3
    assert [g["weight_decay"] for g in split.param_groups] == [0.0, 5e-4, 0.0, 0.0, 5e-4, 0.0]
    ids = [[id(p) for p in g["params"]] for g in split.param_groups]
    flat = [i for group in ids for i in group]
    assert len(flat) == len(set(flat)) == len(list(model.parameters()))  # each parameter in exactly one group
    assert set(ids[3] + ids[4] + ids[5]) == {id(p) for p in backbone.parameters()}
    for index in range(3):  # a backbone group holds what the plain group of the same kind held for the backbone
        held = {id(p) for p in plain.param_groups[index]["params"]} & {id(p) for p in backbone.parameters()}
        assert set(ids[index + 3]) == held


def test_warmup_scales_a_backbone_bias_start_by_its_lr_scale():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    optimizer = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4, backbone=model[0])
    for group in optimizer.param_groups:
        group["initial_lr"] = 0.01 * (0.5 if group.get("backbone") else 1.0)
        group["lr_scale"] = 0.5 if group.get("backbone") else 1.0
    hyp = {"warmup_bias_lr": 0.1, "warmup_momentum": 0.8, "momentum": 0.937}
    warmup(optimizer, 0, 100, 1.0, hyp)  # groups: biases, weights, norm weights (none here), backbone's two
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.1, 0.0, 0.0, 0.05, 0.0])
    warmup(optimizer, 100, 100, 1.0, hyp)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005])
