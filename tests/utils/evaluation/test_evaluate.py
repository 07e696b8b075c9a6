"""The evaluator on hand-controlled predictions, and our mAP against pycocotools' COCOeval through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from utils.boxes import xywhn_to_xyxy
from utils.data.dataloader import create_dataloader
from utils.data.options import LoaderOptions
from utils.errors import UserError
from utils.evaluation.evaluate import evaluate
from utils.evaluation.options import EvalOptions

NAMES = ["circle", "rectangle", "triangle"]


class Oracle(nn.Module):
    """A stand-in detector that predicts each batch's ground truth, optionally jittered, with false positives.

    ``feed(loader)`` yields the loader's batches and shows the model each batch's targets first. Decoded rows
    are ``xywh`` pixels, objectness, one-hot-ish class scores (a wrong class gets ``wrong_class_score``).
    """

    stride = torch.tensor([8.0, 16.0, 32.0])

    def __init__(self, jitter: float = 0.0, false_positives: int = 0, wrong_class_score: float = 0.0, seed: int = 0):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))  # evaluate reads the device and dtype from the parameters
        self.jitter, self.false_positives, self.wrong_class_score = jitter, false_positives, wrong_class_score
        self.generator = torch.Generator().manual_seed(seed)
        self.targets = None

    def feed(self, loader):
        for batch in loader:
            self.targets = batch[1]
            yield batch

    def forward(self, images: torch.Tensor):
        batch, _, height, width = images.shape
        scale = torch.tensor([width, height, width, height])
        rows = []
        for b in range(batch):
            labels = self.targets[self.targets[:, 0] == b]
            xywh = labels[:, 2:6] * scale
            noise = self.jitter * torch.randn(xywh.shape, generator=self.generator)
            xywh = torch.cat((xywh[:, :2] + noise[:, :2] * xywh[:, 2:], xywh[:, 2:] * (1 + noise[:, 2:])), 1)
            score = 1.0 - 0.9 * self.jitter * torch.rand(len(labels), generator=self.generator)
            classes = labels[:, 1].long()
            if self.false_positives:
                fp_xy = torch.rand(self.false_positives, 2, generator=self.generator) * scale[:2]
                fp_wh = (0.05 + 0.3 * torch.rand(self.false_positives, 2, generator=self.generator)) * scale[:2]
                xywh = torch.cat((xywh, torch.cat((fp_xy, fp_wh), 1)))
                score = torch.cat((score, torch.rand(self.false_positives, generator=self.generator)))
                extra = torch.randint(0, len(NAMES), (self.false_positives,), generator=self.generator)
                classes = torch.cat((classes, extra))
            probs = torch.full((len(classes), len(NAMES)), self.wrong_class_score)
            probs[torch.arange(len(classes)), classes] = 1.0
            rows.append(torch.cat((xywh, score[:, None], probs), 1))
        n = max(len(r) for r in rows)
        decoded = torch.zeros(batch, n, 5 + len(NAMES))
        for b, r in enumerate(rows):
            decoded[b, : len(r)] = r
        return decoded, []


def val_options(imgsz: int, batch_size: int) -> LoaderOptions:
    """val.py's loading: rectangular batches padded by half a stride, in this process."""
    return LoaderOptions(imgsz, batch_size, 32, rect=True, pad=0.5, workers=0)


@pytest.fixture(scope="module")
def shapes_val_loader(shapes_root):
    loader, _ = create_dataloader(shapes_root / "images" / "val", val_options(160, 8))
    return loader


def test_perfect_predictions_give_map_one(shapes_val_loader):
    model = Oracle()
    result = evaluate(model, model.feed(shapes_val_loader), NAMES, EvalOptions(iou_thres=1.0, save_json=True))
    assert result.images == 32 and result.metrics.instances.sum() > 50
    assert result.map == pytest.approx(1.0) and result.map50 == pytest.approx(1.0)
    assert result.metrics.mean_precision == pytest.approx(1.0) and result.metrics.mean_recall == pytest.approx(1.0)
    assert result.coco_map == pytest.approx(1.0) and result.coco_map50 == pytest.approx(1.0)


def test_labels_and_predictions_are_compared_in_original_pixels(shapes_val_loader, tmp_path):
    """Both go back through the letterbox, so a saved prediction is the label file's box in original pixels."""
    model = Oracle()
    options = EvalOptions(iou_thres=1.0, save_dir=tmp_path, save_txt=True)
    result = evaluate(model, model.feed(shapes_val_loader), NAMES, options)
    dataset = shapes_val_loader.dataset
    index = next(i for i, lb in enumerate(dataset.labels) if len(lb))
    stem = dataset.im_files[index].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    saved = np.loadtxt(tmp_path / "labels" / f"{stem}.txt", ndmin=2)
    truth = dataset.labels[index]
    saved, truth = saved[np.lexsort(saved.T[::-1])], truth[np.lexsort(truth.T[::-1])]
    assert saved == pytest.approx(truth, abs=1e-2)  # within a pixel of the 160 px image (letterbox rounding)
    assert tmp_path / "labels" / f"{stem}.txt" in result.files and all(path.is_file() for path in result.files)


def test_noisy_predictions_agree_with_pycocotools(shapes_val_loader):
    model = Oracle(jitter=0.08, false_positives=6, wrong_class_score=0.3)
    result = evaluate(model, model.feed(shapes_val_loader), NAMES, EvalOptions(save_json=True))
    assert 0.1 < result.map < 0.9  # a non-trivial case
    assert result.map == pytest.approx(result.coco_map, abs=0.01)
    assert result.map50 == pytest.approx(result.coco_map50, abs=0.01)


def test_single_class_ignores_class_mistakes(shapes_val_loader):
    model = Oracle(wrong_class_score=1.0)  # every box also predicted as every other class
    result = evaluate(model, model.feed(shapes_val_loader), NAMES, EvalOptions(single_cls=True))  # class-agnostic NMS
    assert result.names == ["circle"] and result.metrics.classes.tolist() == [0]
    assert result.map == pytest.approx(1.0)


def test_losses_are_averaged_and_mode_restored(shapes_val_loader):
    calls = []

    def compute_loss(raw, targets):
        calls.append(len(targets))
        return torch.tensor(6.0), {"box": torch.tensor(1.0), "obj": torch.tensor(2.0), "cls": torch.tensor(3.0)}

    model = Oracle().train()
    result = evaluate(model, model.feed(shapes_val_loader), NAMES, compute_loss=compute_loss)
    assert result.loss == {"box": 1.0, "obj": 2.0, "cls": 3.0} and len(calls) == 4
    assert model.training  # put back as found
    assert "all" in result.table() and "circle" not in result.table()
    assert "circle" in result.table(per_class=True)
    assert result.class_maps(3).shape == (3,)


def test_half_needs_cuda(shapes_val_loader):
    with pytest.raises(UserError, match="CUDA"):
        evaluate(Oracle(), shapes_val_loader, NAMES, EvalOptions(half=True))


def test_a_split_without_labels_gives_zeros():
    images = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    batches = [(images, torch.zeros((0, 6)), ("a.jpg", "b.jpg"), (None, None))]
    model = Oracle()
    result = evaluate(model, model.feed(batches), NAMES, EvalOptions(save_json=True))
    assert result.images == 2 and result.map == 0.0 and result.coco_map == 0.0


def _real_model_agreement(weights, loader, names):
    from utils.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(weights)).fuse()
    result = evaluate(model, loader, names, EvalOptions(save_json=True))
    assert result.map == pytest.approx(result.coco_map, abs=0.01)
    assert result.map50 == pytest.approx(result.coco_map50, abs=0.01)
    return result


@pytest.mark.slow
def test_shapes_model_agrees_with_pycocotools(shapes_weights, shapes_val_loader):
    _real_model_agreement(shapes_weights, shapes_val_loader, NAMES)


@pytest.mark.slow
def test_bccd_agrees_with_pycocotools(bccd_yolo, shapes_weights):
    """BCCD val (crowded red cells): a jittered oracle, and the shapes model (also 3 classes) as a real detector."""
    from utils.data.dataset_yaml import check_dataset

    data = check_dataset(bccd_yolo[0] / "data.yaml")
    loader, _ = create_dataloader(data["val"], val_options(320, 16))
    model = Oracle(jitter=0.05, false_positives=10, wrong_class_score=0.2)
    result = evaluate(model, model.feed(loader), data["names"], EvalOptions(save_json=True))
    assert 0.1 < result.map < 0.95
    assert result.map == pytest.approx(result.coco_map, abs=0.01)
    assert result.map50 == pytest.approx(result.coco_map50, abs=0.01)
    _real_model_agreement(shapes_weights, loader, data["names"])


def test_xywhn_round_trip_used_by_oracle():
    box = xywhn_to_xyxy(np.array([[0.5, 0.5, 0.2, 0.4]]), 100, 50)
    assert box.tolist() == [[40.0, 15.0, 60.0, 35.0]]


@pytest.mark.slow
def test_model_trained_on_bccd_agrees_with_pycocotools(bccd_yolo, bccd_weights):
    """Detections of a model trained on BCCD itself (3 short epochs): our mAP equals pycocotools' within 0.01."""
    result = _real_model_agreement(bccd_weights, *_bccd_val(bccd_yolo[0] / "data.yaml"))
    assert result.map50 > 0.005  # real, if early, detections of blood cells


def _bccd_val(data_yaml):
    from utils.data.dataset_yaml import check_dataset

    data = check_dataset(data_yaml)
    loader, _ = create_dataloader(data["val"], val_options(160, 16))
    return loader, data["names"]
