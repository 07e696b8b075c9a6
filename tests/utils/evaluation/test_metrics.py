import numpy as np
import pytest

from utils.evaluation.coco_json import coco_detections, coco_ground_truth, run_cocoeval
from utils.evaluation.metrics import IOU_THRESHOLDS, coco_average_precision, detection_metrics, match_predictions


def test_hand_built_average_precision():
    """Two ground truths; detections hit, miss, hit. Precision envelope 1 up to recall 0.5, then 2/3."""
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=np.float32)
    preds = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7])
    correct = match_predictions(preds, scores, np.zeros(3), truth, np.zeros(2))
    assert correct.all(1).tolist() == [True, False, True]
    ap = coco_average_precision(correct, scores, num_true=2)
    assert ap == pytest.approx(np.full(10, (51 * 1 + 50 * 2 / 3) / 101))


def test_iou_thresholds_and_one_match_per_truth():
    truth = np.array([[0.0, 0, 10, 10]])
    shifted = np.array([[0.0, 0, 10, 8], [0.0, 0, 10, 10]])  # IoU 0.8 and 1.0
    correct = match_predictions(shifted, np.array([0.9, 0.5]), np.zeros(2), truth, np.zeros(1))
    # the higher score takes the truth at every threshold up to 0.8; the second only where the first failed
    assert correct[0].tolist() == [t <= 0.8 + 1e-9 for t in IOU_THRESHOLDS]
    assert correct[1].tolist() == [t > 0.8 + 1e-9 for t in IOU_THRESHOLDS]


def test_class_mismatch_is_not_a_match():
    box = np.array([[0.0, 0, 10, 10]])
    assert not match_predictions(box, np.ones(1), np.ones(1), box, np.zeros(1)).any()


def test_perfect_detections_give_map_one():
    correct = np.ones((4, 10), dtype=bool)
    metrics = detection_metrics(correct, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]))
    assert metrics.map == pytest.approx(1.0) and metrics.map50 == pytest.approx(1.0)
    assert metrics.instances.tolist() == [2, 2]
    assert metrics.mean_precision == pytest.approx(1.0) and metrics.mean_recall == pytest.approx(1.0)


def random_dataset(seed: int, num_images: int = 30, num_classes: int = 3):
    """Ground truths and noisy detections (jittered copies, duplicates, misses, false positives)."""
    rng = np.random.default_rng(seed)
    images, truths, truth_classes, detections = [], [], [], []
    for image_id in range(num_images):
        n = rng.integers(0, 8)
        xy = rng.uniform(0, 500, (n, 2))
        wh = rng.uniform(10, 120, (n, 2))
        boxes = np.concatenate((xy, xy + wh), 1)
        classes = rng.integers(0, num_classes, n)
        keep = rng.random(n) > 0.2  # some objects are missed
        jitter = rng.normal(0, 6, (n, 4))
        found = np.concatenate((boxes + jitter, rng.uniform(0.05, 1, (n, 1)), classes[:, None]), 1)[keep]
        duplicates = found[: rng.integers(0, len(found) + 1)].copy()
        duplicates[:, :4] += rng.normal(0, 10, duplicates[:, :4].shape)
        duplicates[:, 4] *= 0.5
        m = rng.integers(0, 4)
        fxy = rng.uniform(0, 500, (m, 2))
        false = np.concatenate((fxy, fxy + rng.uniform(10, 100, (m, 2)), rng.uniform(0, 0.6, (m, 1)),
                                rng.integers(0, num_classes, (m, 1))), 1)
        dets = np.concatenate((found, duplicates, false))
        dets[:, 2:4] = np.maximum(dets[:, 2:4], dets[:, :2] + 1)
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 640, "height": 640})
        truths.append(boxes)
        truth_classes.append(classes)
        detections.append(dets)
    return images, truths, truth_classes, detections


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_agrees_with_pycocotools(seed):
    images, truths, truth_classes, detections = random_dataset(seed)
    correct, scores, pred_classes = [], [], []
    for boxes, classes, dets in zip(truths, truth_classes, detections):
        d = dets.astype(np.float32)
        correct.append(match_predictions(d[:, :4], d[:, 4], d[:, 5], boxes, classes))
        scores.append(dets[:, 4])
        pred_classes.append(dets[:, 5])
    ours = detection_metrics(
        np.concatenate(correct), np.concatenate(scores), np.concatenate(pred_classes), np.concatenate(truth_classes)
    )
    ground_truth = coco_ground_truth(images, truths, truth_classes, ["a", "b", "c"])
    results = [r for image, dets in zip(images, detections) for r in coco_detections(image["id"], dets)]
    coco_map, coco_map50 = run_cocoeval(ground_truth, results)
    assert 0.1 < coco_map < 0.95  # a non-trivial case
    assert ours.map == pytest.approx(coco_map, abs=1e-6)
    assert ours.map50 == pytest.approx(coco_map50, abs=1e-6)
