"""AutoAnchor: check that the model's anchors fit the dataset's boxes, and evolve better ones when they don't.

The fit is YOLOv5's: a box fits an anchor when neither side ratio exceeds ``anchor_t``; best possible recall
(BPR) is the share of boxes that fit at least one anchor. Below 0.98, k-means on the box sizes gives starting
anchors that a genetic search then mutates to raise the mean fit.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from models.head import Detect

LOGGER = logging.getLogger(__name__)
BPR_THRESHOLD = 0.98


def label_sizes(shapes: np.ndarray, labels: list[np.ndarray], image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Box sizes (M, 2) in pixels of images resized so the long side is ``image_size``, jittered +-10%
    in scale as training resizes them. ``shapes``: (n, 2) image (width, height); ``labels``: per image (k, 5)
    ``class, x, y, w, h`` normalised."""
    scaled = image_size * shapes / shapes.max(1, keepdims=True)
    jitter = rng.uniform(0.9, 1.1, size=(len(shapes), 1))
    sizes = np.concatenate(
        [lab[:, 3:5] * s for s, lab in zip(scaled * jitter, labels) if len(lab)] or [np.zeros((0, 2))]
    )
    return sizes[(sizes >= 2.0).all(1)]  # boxes under 2 px carry no shape information


def anchor_fit(sizes: np.ndarray, anchors: np.ndarray, anchor_t: float) -> tuple[float, float]:
    """(best possible recall, mean number of anchors above threshold per box) for pixel ``anchors`` (K, 2)."""
    best, ratio = _best_ratio(sizes, anchors)
    return float((best > 1 / anchor_t).mean()), float((ratio > 1 / anchor_t).sum(1).mean())


def _best_ratio(sizes: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = sizes[:, None] / anchors[None]
    ratio = np.minimum(r, 1 / r).min(2)  # (M, K): the worse of the two side ratios
    return ratio.max(1), ratio


def evolve_anchors(
    sizes: np.ndarray, count: int, anchor_t: float, generations: int = 1000, seed: int = 0
) -> np.ndarray:
    """``count`` anchors (K, 2) in pixels, sorted by area: k-means, then mutation kept when fitness improves."""
    rng = np.random.default_rng(seed)
    sizes = sizes.astype(np.float64)
    spread = sizes.std(0)
    anchors = _kmeans(sizes / spread, count, rng) * spread
    fitness = _fitness(sizes, anchors, anchor_t)
    for _ in range(generations):
        change = np.ones_like(anchors)
        while (change == 1).all():  # mutate until something changes
            mask = rng.random(anchors.shape) < 0.9
            change = (mask * rng.standard_normal(anchors.shape) * 0.1 * rng.random() + 1).clip(0.3, 3.0)
        candidate = (anchors * change).clip(min=2.0)
        candidate_fitness = _fitness(sizes, candidate, anchor_t)
        if candidate_fitness > fitness:
            anchors, fitness = candidate, candidate_fitness
    return anchors[np.argsort(anchors.prod(1))]


def _fitness(sizes: np.ndarray, anchors: np.ndarray, anchor_t: float) -> float:
    best, _ = _best_ratio(sizes, anchors)
    return float((best * (best > 1 / anchor_t)).mean())


def _kmeans(points: np.ndarray, count: int, rng: np.random.Generator, iterations: int = 30) -> np.ndarray:
    """Plain Lloyd's k-means with k-means++ seeding."""
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, count):
        distance = np.min([((points - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(points[rng.choice(len(points), p=distance / distance.sum())])
    centres = np.array(centres)
    for _ in range(iterations):
        nearest = ((points[:, None] - centres[None]) ** 2).sum(2).argmin(1)
        for k in range(count):
            if (nearest == k).any():
                centres[k] = points[nearest == k].mean(0)
    return centres


def check_anchors(head: Detect, sizes: np.ndarray, anchor_t: float, seed: int = 0) -> bool:
    """Report the anchors' fit to ``sizes``; below a BPR of 0.98 evolve new ones and store them in ``head``
    when they fit better. Returns whether the anchors changed."""
    if not len(sizes):
        LOGGER.warning("AutoAnchor: WARNING the training split has no boxes; keeping the model's anchors")
        return False
    current = (head.anchors * head.stride.view(-1, 1, 1)).view(-1, 2).cpu().numpy()
    bpr, per_box = anchor_fit(sizes, current, anchor_t)
    LOGGER.info("AutoAnchor: %.2f anchors/target, best possible recall %.4f", per_box, bpr)
    if bpr >= BPR_THRESHOLD:
        LOGGER.info("AutoAnchor: current anchors are a good fit to the dataset")
        return False
    evolved = evolve_anchors(sizes, len(current), anchor_t, seed=seed)
    new_bpr, _ = anchor_fit(sizes, evolved, anchor_t)
    if new_bpr <= bpr:
        LOGGER.info("AutoAnchor: evolved anchors (BPR %.4f) are no better; keeping the original ones", new_bpr)
        return False
    anchors = torch.tensor(evolved, dtype=head.anchors.dtype, device=head.anchors.device).view_as(head.anchors)
    head.anchors[:] = anchors / head.stride.view(-1, 1, 1)
    LOGGER.info("AutoAnchor: new anchors saved to the model, best possible recall %.4f -> %.4f", bpr, new_bpr)
    return True
