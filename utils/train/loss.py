"""YOLOv5's training loss: CIoU box loss, BCE objectness against IoU targets, BCE classes.

Targets are assigned as YOLOv5 does: a ground-truth box goes to every anchor whose width and height ratios to
the box are within ``anchor_t``, in its own grid cell and in the two neighbouring cells its centre is closest to.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import complete_box_iou_loss

from utils.boxes import xywh_to_xyxy

# Objectness weight per level for P3, P4, P5 (small objects are many and hard).
DEFAULT_BALANCE = (4.0, 1.0, 0.4)
# Neighbour offsets (centre, left, up, right, down) in grid cells, times the 0.5 bias.
NEIGHBOUR_OFFSETS = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float32) * 0.5


class YoloLoss:
    """Loss for the raw head outputs of one batch.

    Args:
        anchors: (num_levels, num_anchors, 2) anchor sizes in grid units of each level (``Detect.anchors``).
        num_classes: number of classes.
        box_gain, obj_gain, cls_gain: weights of the three terms (already scaled for levels, classes, image size).
        anchor_t: largest allowed width/height ratio between a box and an anchor it is assigned to.
        label_smoothing: epsilon of label smoothing for the class targets.
        cls_pw, obj_pw: positive-class weights of the two BCE terms.
    """

    def __init__(
        self,
        anchors: torch.Tensor,
        num_classes: int,
        box_gain: float = 0.05,
        obj_gain: float = 1.0,
        cls_gain: float = 0.5,
        anchor_t: float = 4.0,
        label_smoothing: float = 0.0,
        cls_pw: float = 1.0,
        obj_pw: float = 1.0,
    ) -> None:
        self.anchors = anchors.detach().clone()
        self.num_levels, self.num_anchors = anchors.shape[:2]
        self.num_classes = num_classes
        self.gains = {"box": box_gain, "obj": obj_gain, "cls": cls_gain}
        self.anchor_t = anchor_t
        self.positive, self.negative = 1.0 - 0.5 * label_smoothing, 0.5 * label_smoothing
        self.balance = (
            list(DEFAULT_BALANCE) if self.num_levels == 3 else [4.0, 1.0, 0.25, 0.06, 0.02][: self.num_levels]
        )
        self.bce_cls = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([cls_pw]))
        self.bce_obj = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([obj_pw]))

    @classmethod
    def from_hyp(
        cls,
        anchors: torch.Tensor,
        num_classes: int,
        hyp: dict,
        image_size: int,
        label_smoothing: float = 0.0,
        **extra: object,
    ) -> YoloLoss:
        """The loss YOLOv5 trains with: the hyp file's gains are set for 3 levels, 80 classes and 640 px, so
        ``box`` is scaled by 3/levels, ``cls`` by classes/80 * 3/levels and ``obj`` by (image_size/640)^2 * 3/levels.
        ``extra`` goes to the constructor (a subclass's own arguments)."""
        per_level = 3 / anchors.shape[0]
        return cls(
            anchors,
            num_classes,
            box_gain=hyp["box"] * per_level,
            cls_gain=hyp["cls"] * num_classes / 80 * per_level,
            obj_gain=hyp["obj"] * (image_size / 640) ** 2 * per_level,
            anchor_t=hyp["anchor_t"],
            label_smoothing=label_smoothing,
            cls_pw=hyp["cls_pw"],
            obj_pw=hyp["obj_pw"],
            **extra,
        )

    def __call__(self, raw: list[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``raw``: per-level logits (B, na, ny, nx, 5 + nc); ``targets``: (N, 6) ``[image, class, x, y, w, h]``
        normalised. Returns (total loss x batch size, {"box", "obj", "cls"} detached per-image values)."""
        device = raw[0].device
        self._to(device)
        losses = {name: torch.zeros(1, device=device) for name in ("box", "obj", "cls")}
        for level, (prediction, assigned) in enumerate(zip(raw, self._assignments(raw, targets))):
            image, anchor, gy, gx, target_box, anchor_wh, target_class = assigned
            objectness_target = torch.zeros(prediction.shape[:4], dtype=prediction.dtype, device=device)
            if image.shape[0]:
                matched = prediction[image, anchor, gy, gx]
                xy = matched[:, :2].sigmoid() * 2 - 0.5
                wh = (matched[:, 2:4].sigmoid() * 2) ** 2 * anchor_wh
                box_loss = complete_box_iou_loss(
                    xywh_to_xyxy(torch.cat((xy, wh), 1)), xywh_to_xyxy(target_box), reduction="none"
                )
                losses["box"] += box_loss.mean()
                objectness_target[image, anchor, gy, gx] = (1.0 - box_loss).detach().clamp(0).to(prediction.dtype)
                if self.num_classes > 1:
                    class_target = torch.full_like(matched[:, 5:], self.negative)
                    class_target[torch.arange(image.shape[0], device=device), target_class] = self.positive
                    losses["cls"] += self.bce_cls(matched[:, 5:], class_target)
            losses["obj"] += self.bce_obj(prediction[..., 4], objectness_target) * self.balance[level]
        for name in losses:
            losses[name] = losses[name] * self.gains[name]
        batch_size = raw[0].shape[0]
        total = losses["box"] + losses["obj"] + losses["cls"]
        return total * batch_size, {name: value.detach() for name, value in losses.items()}

    def _assignments(self, raw: list[torch.Tensor], targets: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Per level, what :meth:`_assign` returns: YOLOv5 assigns every candidate."""
        return [self._assign(prediction, targets, level) for level, prediction in enumerate(raw)]

    def _to(self, device: torch.device) -> None:
        if self.anchors.device != device:
            self.anchors = self.anchors.to(device)
            self.bce_cls.pos_weight = self.bce_cls.pos_weight.to(device)
            self.bce_obj.pos_weight = self.bce_obj.pos_weight.to(device)

    def _assign(self, prediction: torch.Tensor, targets: torch.Tensor, level: int):
        """Targets for one level: indices (image, anchor, gy, gx), box (xy offset in cell, wh) in grid units,
        the anchor sizes and the class of every assignment."""
        device = prediction.device
        ny, nx = prediction.shape[2:4]
        anchors = self.anchors[level]
        scale = torch.tensor([nx, ny, nx, ny], device=device, dtype=torch.float32)
        boxes = targets[:, 2:6].float() * scale  # xywh in grid units, (N, 4)
        ratio = boxes[None, :, 2:4] / anchors[:, None]  # (na, N, 2)
        fits = torch.max(ratio, 1 / ratio).max(2).values < self.anchor_t  # (na, N)
        anchor_index, target_index = fits.nonzero(as_tuple=True)
        boxes, rows = boxes[target_index], targets[target_index]
        centre = boxes[:, :2]
        inverse = torch.tensor([nx, ny], device=device) - centre
        left, up = ((centre % 1 < 0.5) & (centre > 1)).T
        right, down = ((inverse % 1 < 0.5) & (inverse > 1)).T
        use = torch.stack((torch.ones_like(left), left, up, right, down))  # (5, M)
        offsets = NEIGHBOUR_OFFSETS.to(device)[:, None].expand(5, len(centre), 2)[use]
        boxes, rows, anchor_index = (
            boxes.repeat(5, 1, 1)[use],
            rows.repeat(5, 1, 1)[use],
            anchor_index.repeat(5, 1)[use],
        )
        cell = (boxes[:, :2] - offsets).long()
        gx, gy = cell[:, 0].clamp(0, nx - 1), cell[:, 1].clamp(0, ny - 1)
        target_box = torch.cat((boxes[:, :2] - torch.stack((gx, gy), 1), boxes[:, 2:4]), 1)
        return (rows[:, 0].long(), anchor_index, gy, gx, target_box, anchors[anchor_index], rows[:, 1].long())
