"""YOLOv7's training loss (``loss_ota: 1`` in a hyp file): YOLOv5's terms on targets chosen by optimal transport.

YOLOv5 trains on every candidate its anchor-ratio and neighbour-cell rule gives (``YoloLoss._assign``). YOLOv7 keeps
those candidates but, image by image, lets each ground-truth box keep only its ``k`` cheapest, where the cost is
the class BCE (of sqrt(class x objectness) scores) plus 3 x -log(IoU) of the decoded boxes, and ``k`` is the sum of its
10 best IoUs, at least 1 (SimOTA's dynamic k). A candidate claimed by several boxes goes to the cheapest one.
The loss terms on the kept pairs are YOLOv5's. Works on any device (YOLOv7's version puts empty levels on cuda:0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from utils.boxes import xywh_to_xyxy
from utils.train.loss import YoloLoss

TOP_IOUS = 10  # how many of a box's best IoUs sum to its dynamic k
IOU_COST_WEIGHT = 3.0


class OtaLoss(YoloLoss):
    """``YoloLoss`` with YOLOv7's assignment; ``strides`` (pixels per cell of each level) put every level's decoded
    candidates in the same pixel space."""

    def __init__(self, anchors: torch.Tensor, num_classes: int, strides: Sequence[float] = (8, 16, 32),
                 **gains: float) -> None:  # fmt: skip
        super().__init__(anchors, num_classes, **gains)
        self.strides = [float(stride) for stride in strides]

    def _assignments(self, raw: list[torch.Tensor], targets: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        candidates = super()._assignments(raw, targets)
        device = raw[0].device
        kept: list[list[tuple[torch.Tensor, ...]]] = [[] for _ in raw]
        for image in range(raw[0].shape[0]):
            boxes = targets[targets[:, 0] == image]
            if boxes.shape[0]:
                self._match_image(raw, candidates, image, boxes, kept)
        result = []
        for parts in kept:
            if parts:
                result.append(tuple(torch.cat(column) for column in zip(*parts)))
            else:
                empty = torch.zeros(0, dtype=torch.long, device=device)
                floats = torch.zeros(0, 4, device=device)
                result.append((empty, empty, empty, empty, floats, torch.zeros(0, 2, device=device), empty))
        return result

    @torch.no_grad()
    def _match_image(self, raw, candidates, image: int, boxes: torch.Tensor, kept: list) -> None:
        """Choose this image's candidates and append, per level, YoloLoss's assignment tuple for the kept ones."""
        height, width = raw[0].shape[2] * self.strides[0], raw[0].shape[3] * self.strides[0]
        size = torch.tensor([width, height, width, height], device=boxes.device)
        truth = xywh_to_xyxy(boxes[:, 2:6].float() * size)
        decoded, scores, levels, rows = [], [], [], []  # per candidate: its level and its row in that level's list
        for level, (prediction, candidate) in enumerate(zip(raw, candidates)):
            index = (candidate[0] == image).nonzero(as_tuple=True)[0]
            _, anchor, gy, gx, _, anchor_wh, _ = (part[index] for part in candidate)
            cells = prediction[image, anchor, gy, gx].float()
            grid = torch.stack((gx, gy), 1)
            xy = (cells[:, :2].sigmoid() * 2 - 0.5 + grid) * self.strides[level]
            wh = (cells[:, 2:4].sigmoid() * 2) ** 2 * anchor_wh * self.strides[level]
            decoded.append(xywh_to_xyxy(torch.cat((xy, wh), 1)))
            scores.append((cells[:, 5:].sigmoid() * cells[:, 4:5].sigmoid()).sqrt())
            levels.append(torch.full_like(index, level))
            rows.append(index)
        decoded, scores, levels, rows = torch.cat(decoded), torch.cat(scores), torch.cat(levels), torch.cat(rows)
        if not decoded.shape[0]:
            return
        iou = box_iou(truth, decoded)  # (boxes, candidates)
        dynamic_k = iou.topk(min(TOP_IOUS, iou.shape[1]), dim=1).values.sum(1).int().clamp(min=1)
        one_hot = F.one_hot(boxes[:, 1].long(), self.num_classes).float()
        class_cost = F.binary_cross_entropy_with_logits(
            torch.logit(scores)[None].expand(len(boxes), -1, -1),
            one_hot[:, None].expand(-1, len(decoded), -1),
            reduction="none",
        ).sum(-1)
        cost = class_cost + IOU_COST_WEIGHT * -torch.log(iou + 1e-8)
        matches = torch.zeros_like(cost)
        for box, k in enumerate(dynamic_k.tolist()):
            matches[box, cost[box].topk(k, largest=False).indices] = 1.0
        shared = matches.sum(0) > 1
        if shared.any():  # a candidate claimed by several boxes goes to the cheapest
            cheapest = cost[:, shared].argmin(0)
            matches[:, shared] = 0.0
            matches[cheapest, shared] = 1.0
        chosen = (matches.sum(0) > 0).nonzero(as_tuple=True)[0]
        owner = matches[:, chosen].argmax(0)
        for level, prediction in enumerate(raw):
            here = levels[chosen] == level
            if not here.any():
                continue
            owners = boxes[owner[here]]
            image_index, anchor, gy, gx, _, anchor_wh, _ = (part[rows[chosen][here]] for part in candidates[level])
            ny, nx = prediction.shape[2:4]
            box = owners[:, 2:6].float() * torch.tensor([nx, ny, nx, ny], device=boxes.device)
            box[:, :2] -= torch.stack((gx, gy), 1)
            kept[level].append((image_index, anchor, gy, gx, box, anchor_wh, owners[:, 1].long()))
