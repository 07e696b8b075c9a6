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


def _saving_trainer(tmp_path, model):
    """The attributes Trainer.save_checkpoint and Trainer.finish read, on a plain object."""
    from types import SimpleNamespace

    import torch

    from utils.train.ema import ModelEMA
    from utils.train.options import TrainOptions

    options = TrainOptions(noplots=True)
    return SimpleNamespace(best_fitness=0.5, best_epoch=0, model=model, ema=ModelEMA(model), opt=options, hyp={},
                           optimizer=torch.optim.SGD(model.parameters(), lr=0.01), names=["a", "b", "c"],
                           weights_dir=tmp_path / "weights", save_dir=tmp_path, val_loader=None)  # fmt: skip


def test_best_pt_is_written_before_last_pt(tmp_path, monkeypatch):
    """A run killed between the two saves must not hold a last.pt that names a best epoch best.pt lacks."""
    import utils.train.trainer as trainer_module

    written = []
    monkeypatch.setattr(trainer_module, "save_checkpoint", lambda checkpoint, path: written.append(path.name))
    model = DetectionModel("yolov5n.yaml", nc=3, verbose=False)
    trainer_module.Trainer.save_checkpoint(_saving_trainer(tmp_path, model), 0, best=True)
    assert written == ["best.pt", "last.pt"]


def test_finish_makes_best_pt_from_last_pt_when_it_is_missing(tmp_path, caplog):
    import logging

    from utils.checkpoints.checkpoint import load_checkpoint
    from utils.train.trainer import Trainer

    model = DetectionModel("yolov5n.yaml", nc=3, verbose=False)
    fake = _saving_trainer(tmp_path, model)
    Trainer.save_checkpoint(fake, 0, best=False)  # as an older run stopped between last.pt and best.pt left it
    assert not (tmp_path / "weights" / "best.pt").exists()
    with caplog.at_level(logging.WARNING):
        Trainer.finish(fake)
    best = load_checkpoint(tmp_path / "weights" / "best.pt")
    assert best["epoch"] == 0 and best["optimizer"] is None and "best.pt is missing" in caplog.text


@pytest.mark.parametrize("loss_ota", [0, 1])
def test_loss_ota_in_the_hyp_picks_yolov7s_loss(loss_ota: int):
    """``loss_ota: 1`` (YOLOv7's hyp files) trains with OtaLoss, given the head's strides; otherwise YOLOv5's."""
    from types import SimpleNamespace

    from models.yolo import DetectionModel
    from utils.hyp import load_hyp
    from utils.train.loss import YoloLoss
    from utils.train.options import TrainOptions
    from utils.train.ota_loss import OtaLoss
    from utils.train.trainer import Trainer

    model = DetectionModel("configs/models/yolov7-tiny.yaml", nc=3, verbose=False)
    hyp = {**load_hyp(), "loss_ota": loss_ota}
    trainer = SimpleNamespace(model=model, num_classes=3, hyp=hyp, opt=TrainOptions(imgsz=320))
    Trainer.build_loss(trainer)
    assert type(trainer.loss_fn) is (OtaLoss if loss_ota else YoloLoss)
    if loss_ota:
        assert trainer.loss_fn.strides == [8.0, 16.0, 32.0]
