"""Non-maximum suppression of decoded model outputs, built on ``torchvision.ops.batched_nms``.

There is deliberately no time limit: YOLOv5 stops NMS after 0.5 s + 0.05 s per image and silently drops the
remaining images' detections, which on a CPU halves the reported mAP. Speed comes from filtering by confidence
before anything else and capping candidates per image at ``max_nms`` instead.
"""

from __future__ import annotations

import torch
import torchvision

from utils.boxes import xywh_to_xyxy


def non_max_suppression(
    prediction: torch.Tensor,
    conf_thres: float = 0.25,
    iou_thres: float = 0.45,
    classes: list[int] | None = None,
    agnostic: bool = False,
    multi_label: bool = False,
    max_det: int = 300,
    max_nms: int = 30000,
) -> list[torch.Tensor]:
    """Suppress overlapping boxes in each image of a batch.

    Args:
        prediction: (B, N, 5 + nc) decoded head output: ``xywh`` in pixels, objectness, class probabilities.
        conf_thres: keep candidates whose objectness x class probability exceeds this.
        iou_thres: IoU above which the lower-scored of two same-class boxes is dropped.
        classes: keep only these class indices.
        agnostic: suppress across classes too.
        multi_label: one candidate per (box, class) above ``conf_thres`` instead of the best class only
            (validation uses it: it raises mAP slightly).
        max_det: detections kept per image, highest score first.
        max_nms: candidates per image passed to NMS, highest score first.

    Returns:
        One (n, 6) tensor per image: ``x1, y1, x2, y2`` in pixels, confidence, class index.
    """
    if not 0 <= conf_thres <= 1 or not 0 <= iou_thres <= 1:
        raise ValueError(f"conf_thres and iou_thres must be in 0..1, got {conf_thres} and {iou_thres}")
    num_classes = prediction.shape[2] - 5
    output = []
    for image_prediction in prediction:
        image_prediction = image_prediction[image_prediction[:, 4] > conf_thres]
        output.append(
            _suppress_one_image(
                image_prediction, num_classes, conf_thres, iou_thres, classes, agnostic, multi_label, max_det, max_nms
            )
        )
    return output


def _suppress_one_image(
    candidates: torch.Tensor,
    num_classes: int,
    conf_thres: float,
    iou_thres: float,
    classes: list[int] | None,
    agnostic: bool,
    multi_label: bool,
    max_det: int,
    max_nms: int,
) -> torch.Tensor:
    if not candidates.shape[0]:
        return candidates.new_zeros((0, 6))
    scores = candidates[:, 5:] * candidates[:, 4:5] if num_classes > 1 else candidates[:, 4:5].clone()
    boxes = xywh_to_xyxy(candidates[:, :4])
    if multi_label and num_classes > 1:
        rows, cols = (scores > conf_thres).nonzero(as_tuple=True)
        detections = torch.cat((boxes[rows], scores[rows, cols, None], cols[:, None].float()), 1)
    else:
        confidence, label = scores.max(1, keepdim=True)
        detections = torch.cat((boxes, confidence, label.float()), 1)[confidence.view(-1) > conf_thres]
    if classes is not None:
        detections = detections[(detections[:, 5:6] == torch.tensor(classes, device=detections.device)).any(1)]
    if detections.shape[0] > max_nms:
        detections = detections[detections[:, 4].topk(max_nms).indices]
    if not detections.shape[0]:
        return detections
    group = torch.zeros_like(detections[:, 5]) if agnostic else detections[:, 5]
    keep = torchvision.ops.batched_nms(detections[:, :4], detections[:, 4], group.long(), iou_thres)[:max_det]
    return detections[keep]
